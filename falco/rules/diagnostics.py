"""Result types of rule loading: diagnostics, priorities, loaded items."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from falco_engine.filter_ast import Node

# Error codes (Falco's names).
LOAD_ERR_FILE_READ = "LOAD_ERR_FILE_READ"
LOAD_ERR_YAML_PARSE = "LOAD_ERR_YAML_PARSE"
LOAD_ERR_YAML_VALIDATE = "LOAD_ERR_YAML_VALIDATE"
LOAD_ERR_COMPILE_CONDITION = "LOAD_ERR_COMPILE_CONDITION"
LOAD_ERR_COMPILE_OUTPUT = "LOAD_ERR_COMPILE_OUTPUT"
LOAD_ERR_VALIDATE = "LOAD_ERR_VALIDATE"
LOAD_ERR_EXTENSION = "LOAD_ERR_EXTENSION"

# Warning codes (Falco's names, plus LOAD_UNKNOWN_KEY for misspelt keys).
LOAD_UNKNOWN_SOURCE = "LOAD_UNKNOWN_SOURCE"
LOAD_UNSAFE_NA_CHECK = "LOAD_UNSAFE_NA_CHECK"
LOAD_NO_EVTTYPE = "LOAD_NO_EVTTYPE"
LOAD_UNKNOWN_FILTER = "LOAD_UNKNOWN_FILTER"
LOAD_UNUSED_MACRO = "LOAD_UNUSED_MACRO"
LOAD_UNUSED_LIST = "LOAD_UNUSED_LIST"
LOAD_UNKNOWN_ITEM = "LOAD_UNKNOWN_ITEM"
LOAD_DEPRECATED_ITEM = "LOAD_DEPRECATED_ITEM"
LOAD_WARNING_EXTENSION = "LOAD_WARNING_EXTENSION"
LOAD_APPEND_NO_VALUES = "LOAD_APPEND_NO_VALUES"
LOAD_EXCEPTION_NAME_NOT_UNIQUE = "LOAD_EXCEPTION_NAME_NOT_UNIQUE"
LOAD_INVALID_MACRO_NAME = "LOAD_INVALID_MACRO_NAME"
LOAD_INVALID_LIST_NAME = "LOAD_INVALID_LIST_NAME"
LOAD_COMPILE_CONDITION = "LOAD_COMPILE_CONDITION"
LOAD_UNKNOWN_KEY = "LOAD_UNKNOWN_KEY"


class Priority(IntEnum):
    """Falco priorities, most severe first (lower value = more severe)."""
    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7

    @classmethod
    def parse(cls, text: str) -> "Priority | None":
        """Case-insensitive; INFO is INFORMATIONAL."""
        key = str(text).strip().upper()
        if key == "INFO":
            key = "INFORMATIONAL"
        return cls.__members__.get(key)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    filename: str = ""
    line: int = 0
    column: int = 0
    item_type: str = ""
    item_name: str = ""

    def __str__(self) -> str:
        where = self.filename or "<rules>"
        if self.line:
            where += f":{self.line}:{self.column}"
        item = f"{self.item_type} '{self.item_name}': " if self.item_type and self.item_name \
            else (f"{self.item_type}: " if self.item_type else "")
        return f"{where}: {item}{self.message}"


@dataclass(slots=True)
class ListDef:
    name: str
    items: list[str]
    used: bool = False
    filename: str = ""
    line: int = 0


@dataclass(slots=True)
class MacroDef:
    name: str
    condition_text: str
    condition: Node | None = None
    used: bool = False
    filename: str = ""
    line: int = 0


@dataclass(slots=True)
class Rule:
    """A compiled rule, ready for the evaluator."""
    name: str
    condition: Node                 # macros, lists and exceptions expanded
    condition_text: str             # that AST printed back (Falco's format)
    output: str
    desc: str
    priority: Priority
    tags: tuple[str, ...]
    enabled: bool
    source: str
    evttypes: set[str] | None       # None: every (or nearly every) event type
    exception_fields: tuple[str, ...] = ()
    capture: bool = False
    capture_duration: int = 0
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    filename: str = ""
    line: int = 0


@dataclass(slots=True)
class LoadResult:
    rules: list[Rule] = field(default_factory=list)
    macros: dict[str, MacroDef] = field(default_factory=dict)
    lists: dict[str, ListDef] = field(default_factory=dict)
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    required_engine_version: tuple[int, int, int] | None = None
    required_plugin_versions: list[list[tuple[str, str]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)
