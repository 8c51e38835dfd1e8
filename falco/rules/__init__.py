"""Falco rule files: loading, validation, macro/list/exception expansion."""

from .diagnostics import Diagnostic, ListDef, LoadResult, MacroDef, Priority, Rule
from .loader import ENGINE_VERSION, load_rule_files, load_rules

__all__ = ["Diagnostic", "ENGINE_VERSION", "ListDef", "LoadResult", "MacroDef",
           "Priority", "Rule", "load_rule_files", "load_rules"]
