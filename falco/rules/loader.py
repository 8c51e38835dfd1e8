"""Load Falco rule files: read YAML, collect items, compile conditions.

Three stages, as in Falco:

1. read: each YAML item is validated and handed to the collector, which
   applies definitions, ``append: true`` and ``override:`` in file order;
2. compile: lists are expanded (lists inside lists), macros are parsed and
   resolved (a macro sees the macros defined before it; a rule sees all
   of them), rule conditions get their exceptions appended, their lists
   substituted and their macros expanded, and are checked against the
   field catalog; outputs are checked too;
3. report: unused lists and macros, rules matching every event type.

Loading stops at the first error, like Falco; warnings accumulate (after
an error in a macro, Falco still reports unused macros and lists: so does
this loader).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from falco_engine import table as _table
from falco_engine.filter_ast import (
    BoolOp, Compare, FieldRef, Identifier, ListValue, Node, Not, Value,
    to_string, walk,
)
from falco_engine.filter_check import (
    EvtTypeError, FilterCheckError, check, evttype_set,
)
from falco_engine.filter_parser import FilterSyntaxError, parse

from . import diagnostics as D
from .diagnostics import Diagnostic, ListDef, LoadResult, MacroDef, Priority, Rule
from .exceptions import build_exceptions_condition, validate_exception
from .output import check_output

__all__ = ["ENGINE_VERSION", "load_rule_files", "load_rules"]

ENGINE_VERSION = (0, 58, 0)
SYSCALL_SOURCE = "syscall"
KNOWN_SOURCES = frozenset({SYSCALL_SOURCE})



class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader (libyaml-backed when available)."""


# YAML 1.1 resolves a bare "=" to the obscure !!value tag; rule files mean
# the string (exception comps: [=]).
_Loader.add_constructor("tag:yaml.org,2002:value",
                        lambda loader, node: loader.construct_scalar(node))


def _untagged(loader, suffix, node):
    """An unknown local tag (`desc: != after` reads as tag "!=") is ignored,
    as Falco's YAML library does: the node is read as plain data."""
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_multi_constructor("!", _untagged)

WARNING_APPEND = ("'append' key is deprecated. Add an 'append' entry "
                  "(e.g. 'condition: append') under 'override' instead.")
WARNING_ENABLED = ("The standalone 'enabled' key usage is deprecated. The correct approach "
                   "requires also a 'replace' entry under the 'override' key "
                   "(i.e. 'enabled: replace').")
ERROR_OVERRIDE_APPEND = ("Keys 'override' and 'append: true' cannot be used together. "
                         "Add an 'append' entry (e.g. 'condition: append') under "
                         "'override' instead.")
ERROR_NO_PREVIOUS_MACRO = ("Macro uses 'append' or 'override.condition: append' but no "
                           "macro by that name already exists")
ERROR_NO_PREVIOUS_LIST = ("List uses 'append' or 'override.items: append' but no list "
                          "by that name already exists")
ERROR_NO_PREVIOUS_RULE_APPEND = ("Rule uses 'append' or 'override.<key>: append' but no "
                                 "rule by that name already exists")
ERROR_NO_PREVIOUS_RULE_REPLACE = ("An 'override.<key>: replace' to a rule was requested "
                                  "but no rule by that name already exists")

# A chain of hundreds of macros, each naming the previous one, nests the
# expanded condition deeper than the compiler can recurse.
ERROR_TOO_DEEP = "condition nests too deeply once its macros are expanded"

_RX_IDENTIFIER = r"[a-zA-Z]+[a-zA-Z0-9_]*"
_RX_BARESTR = r"[^()\"'[:space:]=,]+"
_RX_IDENTIFIER_C = re.compile(_RX_IDENTIFIER)
_RX_BARESTR_C = re.compile(r"[^()\"'\s=,]+")
_RX_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")

_RULE_KEYS = frozenset({"rule", "condition", "output", "desc", "priority", "tags",
                        "enabled", "source", "exceptions", "append", "override",
                        "warn_evttypes", "skip-if-unknown-filter", "capture",
                        "capture_duration"})
_MACRO_KEYS = frozenset({"macro", "condition", "append", "override", "source"})
_LIST_KEYS = frozenset({"list", "items", "append", "override"})
_RULE_APPENDABLE = ("condition", "output", "desc", "tags", "exceptions")
_RULE_REPLACEABLE = ("condition", "output", "desc", "priority", "tags", "exceptions",
                     "enabled", "warn_evttypes", "skip-if-unknown-filter", "capture",
                     "capture_duration")


class LoadError(Exception):
    """Stops loading; carries the diagnostic to report."""

    def __init__(self, diag: Diagnostic) -> None:
        super().__init__(str(diag))
        self.diag = diag


@dataclass(slots=True)
class Ctx:
    """Where an item lives: for diagnostics."""
    filename: str
    line: int = 0
    column: int = 0
    item_type: str = ""
    item_name: str = ""

    def diag(self, code: str, message: str, line: int | None = None,
             column: int | None = None) -> Diagnostic:
        return Diagnostic(code, message, self.filename,
                          self.line if line is None else line,
                          self.column if column is None else column,
                          self.item_type, self.item_name)


def _mark(node: yaml.Node | None) -> tuple[int, int]:
    if node is None:
        return 0, 0
    return node.start_mark.line + 1, node.start_mark.column + 1


# --- collected items ---------------------------------------------------------------

@dataclass(slots=True)
class _ListInfo:
    name: str
    items: list[str]
    ctx: Ctx
    index: int = 0
    visibility: int = 0


@dataclass(slots=True)
class _MacroInfo:
    name: str
    cond: str
    ctx: Ctx
    cond_node: yaml.Node | None = None
    cond_src: str = ""
    index: int = 0
    visibility: int = 0


@dataclass(slots=True)
class _RuleInfo:
    name: str
    ctx: Ctx
    cond: str = ""
    cond_node: yaml.Node | None = None
    cond_src: str = ""
    output: str = ""
    output_ctx: Ctx | None = None
    desc: str = ""
    priority: Priority = Priority.DEBUG
    tags: list[str] = field(default_factory=list)
    enabled: bool = True
    source: str = SYSCALL_SOURCE
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    capture: bool = False
    capture_duration: int = 0
    unknown_source: bool = False
    index: int = 0
    visibility: int = 0


class _Collector:
    def __init__(self, result: LoadResult) -> None:
        self.res = result
        self.lists: dict[str, _ListInfo] = {}
        self.macros: dict[str, _MacroInfo] = {}
        self.rules: dict[str, _RuleInfo] = {}
        self.cur = 0

    def warn(self, ctx: Ctx, code: str, message: str) -> None:
        self.res.warnings.append(ctx.diag(code, message))

    def _define(self, table: dict, info: Any) -> None:
        prev = table.get(info.name)
        if prev is not None:
            info.index = prev.index
        else:
            info.index = self.cur
        info.visibility = self.cur
        self.cur += 1
        table[info.name] = info

    def define_list(self, info: _ListInfo) -> None:
        self._define(self.lists, info)

    def append_list(self, info: _ListInfo) -> None:
        prev = self.lists.get(info.name)
        if prev is None:
            raise LoadError(info.ctx.diag(D.LOAD_ERR_VALIDATE, ERROR_NO_PREVIOUS_LIST))
        prev.items.extend(info.items)
        prev.visibility = self.cur
        self.cur += 1

    def define_macro(self, info: _MacroInfo) -> None:
        self._define(self.macros, info)

    def append_macro(self, info: _MacroInfo) -> None:
        prev = self.macros.get(info.name)
        if prev is None:
            raise LoadError(info.ctx.diag(D.LOAD_ERR_VALIDATE, ERROR_NO_PREVIOUS_MACRO))
        prev.cond += " " + info.cond
        prev.visibility = self.cur
        self.cur += 1

    def define_rule(self, info: _RuleInfo) -> None:
        prev = self.rules.get(info.name)
        if prev is not None and prev.source != info.source:
            raise LoadError(info.ctx.diag(D.LOAD_ERR_VALIDATE,
                                          "Rule has been re-defined with a different source"))
        if info.source not in KNOWN_SOURCES:
            info.unknown_source = True
            self.warn(info.ctx, D.LOAD_UNKNOWN_SOURCE,
                      f"Unknown source {info.source}, skipping")
        for ex in info.exceptions:
            if ex.get("fields") is None:
                raise LoadError(ex["ctx"].diag(
                    D.LOAD_ERR_VALIDATE,
                    "Rule exception item must have fields property with a list of fields"))
            validate_exception(ex, not info.unknown_source)
        self._define(self.rules, info)

    def _prev_rule(self, name: str, ctx: Ctx, source: str | None, missing: str) -> _RuleInfo:
        prev = self.rules.get(name)
        if prev is None:
            raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE, missing))
        if source and source != prev.source:
            raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE,
                                     "Rule has been re-defined with a different source"))
        return prev

    def append_rule(self, name: str, ctx: Ctx, upd: dict[str, Any],
                    source: str | None) -> None:
        prev = self._prev_rule(name, ctx, source, ERROR_NO_PREVIOUS_RULE_APPEND)
        if not upd:
            raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE,
                                     "Appended rule must have exceptions or condition property"))
        if upd.get("condition"):
            prev.cond += " " + upd["condition"]
            prev.cond_node, prev.cond_src = None, ""
        if upd.get("output"):
            prev.output += " " + upd["output"]
        if upd.get("desc"):
            prev.desc += " " + upd["desc"]
        for tag in upd.get("tags") or ():
            if tag not in prev.tags:
                prev.tags.append(tag)
        for ex in upd.get("exceptions") or ():
            old = next((e for e in prev.exceptions if e["name"] == ex["name"]), None)
            if old is None:
                if ex.get("fields") is None:
                    raise LoadError(ex["ctx"].diag(
                        D.LOAD_ERR_VALIDATE,
                        "Rule exception must have fields property with a list of fields"))
                if not ex.get("values"):
                    raise LoadError(ex["ctx"].diag(
                        D.LOAD_ERR_VALIDATE,
                        "Rule exception must have values property with a list of values"))
                validate_exception(ex, not prev.unknown_source)
                prev.exceptions.append(ex)
            else:
                if ex.get("fields") is not None:
                    raise LoadError(ex["ctx"].diag(
                        D.LOAD_ERR_VALIDATE,
                        "Can not append exception fields to existing exception, only values"))
                if ex.get("comps") is not None:
                    raise LoadError(ex["ctx"].diag(
                        D.LOAD_ERR_VALIDATE,
                        "Can not append exception comps to existing exception, only values"))
                old["values"] = list(old.get("values") or []) + list(ex.get("values") or [])
        prev.visibility = self.cur
        self.cur += 1

    def replace_rule(self, name: str, ctx: Ctx, upd: dict[str, Any],
                     source: str | None) -> None:
        prev = self._prev_rule(name, ctx, source, ERROR_NO_PREVIOUS_RULE_REPLACE)
        if not upd:
            raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE,
                                     "The rule must have at least one field that can be replaced"))
        for key, value in upd.items():
            if key == "condition":
                prev.cond, prev.cond_node, prev.cond_src = value, upd.get("_cond_node"), \
                    upd.get("_cond_src", "")
            elif key == "exceptions":
                for ex in value:
                    validate_exception(ex, not prev.unknown_source)
                prev.exceptions = list(value)
            elif not key.startswith("_"):
                setattr(prev, _ATTR.get(key, key), value)
        prev.visibility = self.cur
        self.cur += 1

    def enable_rule(self, name: str, ctx: Ctx, enabled: bool) -> None:
        prev = self.rules.get(name)
        if prev is None:
            raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE,
                                     "Rule has 'enabled' key but no rule by that name "
                                     "already exists"))
        prev.enabled = enabled


_ATTR = {"skip-if-unknown-filter": "skip_if_unknown_filter"}


# --- reading ------------------------------------------------------------------------

class _Reader:
    """Turns one YAML document's items into collector calls."""

    def __init__(self, filename: str, text: str, col: _Collector) -> None:
        self.filename = filename
        self.text = text
        self.col = col
        self.res = col.res

    # value decoding ------------------------------------------------------------
    def _get(self, item: dict, key: str, ctx: Ctx, optional: bool = False) -> Any:
        if key not in item:
            if optional:
                return None
            raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                     f"Item has no mapping for key '{key}'"))
        value, node = item[key]
        if value is None:
            if optional:
                return None
            raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE, f"Mapping for key '{key}' is empty"))
        return value

    def _str(self, item: dict, key: str, ctx: Ctx, optional: bool = False) -> str | None:
        value = self._get(item, key, ctx, optional)
        if value is None:
            return None
        if isinstance(value, (list, dict)):
            raise LoadError(self._at(item, key, ctx, D.LOAD_ERR_YAML_VALIDATE,
                                     f"Value for key '{key}' is not a scalar value"))
        if isinstance(value, bool):
            value = "true" if value else "false"
        value = str(value)
        if value == "" and not optional:
            raise LoadError(self._at(item, key, ctx, D.LOAD_ERR_YAML_VALIDATE,
                                     f"Value for key '{key}' must be non-empty"))
        return value

    def _bool(self, item: dict, key: str, ctx: Ctx, optional: bool = True) -> bool | None:
        value = self._get(item, key, ctx, optional)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "y"):
            return True
        if text in ("false", "no", "off", "n"):
            return False
        raise LoadError(self._at(item, key, ctx, D.LOAD_ERR_YAML_VALIDATE,
                                 f"Can't decode YAML scalar value for key '{key}' as a boolean"))

    def _int(self, item: dict, key: str, ctx: Ctx) -> int | None:
        value = self._get(item, key, ctx, True)
        if value is None:
            return None
        if isinstance(value, bool) or not re.fullmatch(r"\d+", str(value).strip()):
            raise LoadError(self._at(item, key, ctx, D.LOAD_ERR_YAML_VALIDATE,
                                     f"Can't decode YAML scalar value for key '{key}' "
                                     "as an unsigned integer"))
        return int(str(value))

    def _seq_of_str(self, item: dict, key: str, ctx: Ctx, optional: bool) -> list[str] | None:
        if key not in item:
            if optional:
                return None
            raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                     f"Item has no mapping for key '{key}'"))
        value, _ = item[key]
        if value is None and optional:
            return []
        if not isinstance(value, list):
            raise LoadError(self._at(item, key, ctx, D.LOAD_ERR_YAML_VALIDATE,
                                     f"Value for key '{key}' is not a sequence"))
        out = []
        for v in value:
            if isinstance(v, (list, dict)):
                raise LoadError(self._at(item, key, ctx, D.LOAD_ERR_YAML_VALIDATE,
                                         f"'{key}' sequence value is not scalar"))
            out.append(_scalar_text(v))
        return out

    def _at(self, item: dict, key: str, ctx: Ctx, code: str, message: str) -> Diagnostic:
        node = item.get(key, (None, None))[1]
        line, col = _mark(node)
        return ctx.diag(code, message, line or None, col or None)

    def _unknown_keys(self, item: dict, allowed: frozenset, ctx: Ctx) -> None:
        for key in item:
            if key not in allowed:
                line, col = _mark(item[key][1])
                self.res.warnings.append(ctx.diag(D.LOAD_UNKNOWN_KEY, f"Unknown key '{key}'",
                                                  line, col))

    def _overrides(self, item: dict, ctx: Ctx, appendable: tuple[str, ...],
                   replaceable: tuple[str, ...]) -> tuple[set[str], set[str]]:
        if "override" not in item:
            return set(), set()
        value, node = item["override"]
        if not isinstance(value, dict):
            raise LoadError(self._at(item, "override", ctx, D.LOAD_ERR_YAML_VALIDATE,
                                     "Value for key 'override' is not a mapping"))
        app, rep = set(), set()
        for key, op in value.items():
            key = str(key)
            if op == "append":
                if key not in appendable:
                    raise LoadError(self._at(item, "override", ctx, D.LOAD_ERR_YAML_VALIDATE,
                                             f"Key '{key}' cannot be appended to, use "
                                             "'replace' instead"))
                app.add(key)
            elif op == "replace":
                if key not in replaceable:
                    raise LoadError(self._at(item, "override", ctx, D.LOAD_ERR_YAML_VALIDATE,
                                             f"Key '{key}' cannot be replaced"))
                rep.add(key)
            else:
                allowed = " ".join(x for x, ok in (("append", key in appendable),
                                                   ("replace", key in replaceable)) if ok)
                raise LoadError(self._at(item, "override", ctx, D.LOAD_ERR_YAML_VALIDATE,
                                         f"Invalid override operation for key '{key}': "
                                         f"'{op}'. Allowed values are: {allowed}"))
        return app, rep

    # items ---------------------------------------------------------------------
    def read_item(self, value: Any, node: yaml.Node) -> None:
        line, col = _mark(node)
        if not isinstance(value, dict):
            raise LoadError(Diagnostic(D.LOAD_ERR_YAML_VALIDATE,
                                       "Unexpected element type. Each element should be a "
                                       "yaml associative array.", self.filename, line, col,
                                       "rules content item", ""))
        # key -> (value, value node)
        item = {str(k.value): (value.get(k.value, value.get(str(k.value))), v)
                for k, v in node.value}
        if "required_engine_version" in item:
            self.read_engine_version(item, Ctx(self.filename, line, col,
                                               "required_engine_version"))
        elif "required_plugin_versions" in item:
            self.read_plugin_versions(item, Ctx(self.filename, line, col,
                                                "required_plugin_versions"))
        elif "list" in item:
            self.read_list(item, line, col)
        elif "macro" in item:
            self.read_macro(item, line, col)
        elif "rule" in item:
            self.read_rule(item, line, col)
        else:
            self.res.warnings.append(Diagnostic(D.LOAD_UNKNOWN_ITEM, "Unknown top level item",
                                                self.filename, line, col, "rules content item",
                                                ""))

    def read_engine_version(self, item: dict, ctx: Ctx) -> None:
        raw = self._get(item, "required_engine_version", ctx)
        text = _scalar_text(raw).strip()
        if re.fullmatch(r"\d+", text):
            version = (0, int(text), 0)
        else:
            m = _RX_SEMVER.fullmatch(text)
            if m is None:
                raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                         f"Unable to parse engine version '{text}' as a semver "
                                         "string. Expected \"x.y.z\" semver format."))
            version = tuple(int(g) for g in m.groups())  # type: ignore[assignment]
        if version[0] != ENGINE_VERSION[0] or version > ENGINE_VERSION:
            raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE,
                                     "Rules require engine version "
                                     f"{'.'.join(map(str, version))}, but engine version is "
                                     f"{'.'.join(map(str, ENGINE_VERSION))}"))
        cur = self.res.required_engine_version
        if cur is None or cur < version:
            self.res.required_engine_version = version  # type: ignore[assignment]

    def read_plugin_versions(self, item: dict, ctx: Ctx) -> None:
        reqs = self._get(item, "required_plugin_versions", ctx)
        if not isinstance(reqs, list):
            raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                     "Value of required_plugin_versions must be a sequence"))
        for req in reqs:
            if not isinstance(req, dict) or "name" not in req or "version" not in req:
                raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                         "Plugin version must be a mapping with 'name' and "
                                         "'version'"))
            alts = [(str(req["name"]), str(req["version"]))]
            for alt in req.get("alternatives") or []:
                if not isinstance(alt, dict) or "name" not in alt or "version" not in alt:
                    raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                             "Plugin version alternative must be a mapping"))
                alts.append((str(alt["name"]), str(alt["version"])))
            for name, version in alts:
                if not _RX_SEMVER.fullmatch(version.strip()):
                    raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE,
                                             f"Invalid required version '{version}' for "
                                             f"plugin '{name}'"))
            # Accepted but not enforced: this engine has no plugins to match.
            self.res.required_plugin_versions.append(alts)

    def _append_flag(self, item: dict, ctx: Ctx) -> bool:
        append = bool(self._bool(item, "append", ctx))
        if append:
            self.res.warnings.append(ctx.diag(D.LOAD_DEPRECATED_ITEM, WARNING_APPEND))
        return append

    def read_list(self, item: dict, line: int, col: int) -> None:
        ctx = Ctx(self.filename, line, col, "list")
        name = self._str(item, "list", ctx)
        ctx.item_name = name
        if not _RX_BARESTR_C.fullmatch(name):
            self.res.warnings.append(ctx.diag(
                D.LOAD_INVALID_LIST_NAME,
                "List has an invalid name. List names should match a regular expression: "
                + _RX_BARESTR))
        items = self._seq_of_str(item, "items", ctx, optional=False)
        self._unknown_keys(item, _LIST_KEYS, ctx)
        append = self._append_flag(item, ctx)
        app, rep = self._overrides(item, ctx, ("items",), ("items",))
        if append and (app or rep):
            raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE, ERROR_OVERRIDE_APPEND))
        info = _ListInfo(name, list(items or []), ctx)
        if append or "items" in app:
            self.col.append_list(info)
        else:
            self.col.define_list(info)

    def read_macro(self, item: dict, line: int, col: int) -> None:
        ctx = Ctx(self.filename, line, col, "macro")
        name = self._str(item, "macro", ctx)
        ctx.item_name = name
        if not _RX_IDENTIFIER_C.fullmatch(name):
            self.res.warnings.append(ctx.diag(
                D.LOAD_INVALID_MACRO_NAME,
                "Macro has an invalid name. Macro names should match a regular expression: "
                + _RX_IDENTIFIER))
        cond = self._str(item, "condition", ctx)
        self._unknown_keys(item, _MACRO_KEYS, ctx)
        append = self._append_flag(item, ctx)
        app, rep = self._overrides(item, ctx, ("condition",), ("condition",))
        if append and (app or rep):
            raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE, ERROR_OVERRIDE_APPEND))
        info = _MacroInfo(name, cond, ctx, item["condition"][1], self.text)
        if append or "condition" in app:
            self.col.append_macro(info)
        else:
            self.col.define_macro(info)

    def read_exceptions(self, item: dict, ctx: Ctx, partial: bool) -> list[dict[str, Any]]:
        if "exceptions" not in item:
            return []
        value, node = item["exceptions"]
        if value is None:
            return []
        if not isinstance(value, list):
            raise LoadError(self._at(item, "exceptions", ctx, D.LOAD_ERR_YAML_VALIDATE,
                                     "Rule exceptions must be a sequence"))
        out: list[dict[str, Any]] = []
        for ex, ex_node in zip(value, node.value):
            line, col = _mark(ex_node)
            ectx = Ctx(self.filename, line, col, "exception", "")
            if not isinstance(ex, dict):
                raise LoadError(ectx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                          "Rule exception must be a mapping"))
            if ex.get("name") in (None, ""):
                raise LoadError(ectx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                          "Item has no mapping for key 'name'"))
            name = _scalar_text(ex["name"])
            ectx.item_name = name
            if any(o["name"] == name for o in out):
                self.res.warnings.append(ectx.diag(
                    D.LOAD_EXCEPTION_NAME_NOT_UNIQUE,
                    f"Multiple definitions of exception '{name}' in the same rule"))
            entry: dict[str, Any] = {"name": name, "ctx": ectx,
                                     "fields": ex.get("fields"), "comps": ex.get("comps")}
            if entry["fields"] is None and not partial:
                raise LoadError(ectx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                          "Item has no mapping for key 'fields'"))
            for key in ("fields", "comps"):
                v = entry[key]
                if v is not None and not isinstance(v, list):
                    if isinstance(v, dict) or _scalar_text(v) == "":
                        raise LoadError(ectx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                                  f"Value for key '{key}' must be non-empty"))
                    entry[key] = _scalar_text(v)
                elif isinstance(v, list):
                    entry[key] = [_scalar_text(x) for x in v]
            if "values" in ex:
                vals = ex["values"]
                if vals is not None and not isinstance(vals, list):
                    raise LoadError(ectx.diag(D.LOAD_ERR_YAML_VALIDATE,
                                              "Rule exception values must be a sequence"))
                entry["values"] = [_nested_text(v) for v in vals or []]
            elif partial:
                self.res.warnings.append(ectx.diag(D.LOAD_APPEND_NO_VALUES,
                                                   "Overriding/appending exception with no "
                                                   "values"))
                entry["values"] = []
            else:
                entry["values"] = []
            out.append(entry)
        return out

    def read_rule(self, item: dict, line: int, col: int) -> None:
        ctx = Ctx(self.filename, line, col, "rule")
        name = self._str(item, "rule", ctx)
        ctx.item_name = name
        self._unknown_keys(item, _RULE_KEYS, ctx)
        append = self._append_flag(item, ctx)
        app, rep = self._overrides(item, ctx, _RULE_APPENDABLE, _RULE_REPLACEABLE)
        if append and (app or rep):
            raise LoadError(ctx.diag(D.LOAD_ERR_YAML_VALIDATE, ERROR_OVERRIDE_APPEND))
        source = self._str(item, "source", ctx, optional=True) or None

        if app or rep:
            expected = {k for k in _RULE_REPLACEABLE + _RULE_APPENDABLE if k in item}
            for mode, keys in (("append", app), ("replace", rep)):
                upd: dict[str, Any] = {}
                for key in sorted(keys):
                    if key not in expected:
                        raise LoadError(ctx.diag(
                            D.LOAD_ERR_YAML_VALIDATE,
                            f"An {mode} override for '{key}' was specified but '{key}' "
                            "is not defined"))
                    expected.discard(key)
                    upd[key] = self._rule_value(item, key, ctx, partial_exceptions=mode == "append")
                    if key == "condition":
                        upd["_cond_node"], upd["_cond_src"] = item["condition"][1], self.text
                if not keys:
                    continue
                if mode == "append":
                    self.col.append_rule(name, ctx, {k: v for k, v in upd.items()
                                                     if not k.startswith("_")}, source)
                else:
                    self.col.replace_rule(name, ctx, upd, source)
            for key in sorted(expected):
                raise LoadError(self._at(item, key, ctx, D.LOAD_ERR_YAML_VALIDATE,
                                         f"Unexpected key '{key}': no corresponding entry "
                                         "under 'override' is defined."))
            return
        if append:
            upd = {}
            if "condition" in item:
                upd["condition"] = self._str(item, "condition", ctx)
            if "exceptions" in item:
                upd["exceptions"] = self.read_exceptions(item, ctx, partial=True)
            self.col.append_rule(name, ctx, upd, source)
            return
        if not any(k in item for k in ("condition", "output", "desc", "priority")):
            enabled = self._bool(item, "enabled", ctx, optional=False)
            self.res.warnings.append(ctx.diag(D.LOAD_DEPRECATED_ITEM, WARNING_ENABLED))
            self.col.enable_rule(name, ctx, bool(enabled))
            return
        info = _RuleInfo(name, ctx)
        info.cond = self._str(item, "condition", ctx)
        info.cond_node, info.cond_src = item["condition"][1], self.text
        info.output = self._str(item, "output", ctx).strip()
        oline, ocol = _mark(item["output"][1])
        info.output_ctx = Ctx(self.filename, oline, ocol, "rule", name)
        info.desc = self._str(item, "desc", ctx)
        info.priority = self._rule_value(item, "priority", ctx)
        info.source = source or SYSCALL_SOURCE
        for key, attr in (("enabled", "enabled"), ("warn_evttypes", "warn_evttypes"),
                          ("skip-if-unknown-filter", "skip_if_unknown_filter"),
                          ("capture", "capture")):
            value = self._bool(item, key, ctx)
            if value is not None:
                setattr(info, attr, value)
        duration = self._int(item, "capture_duration", ctx)
        if duration is not None:
            info.capture_duration = duration
        info.tags = self._seq_of_str(item, "tags", ctx, optional=True) or []
        info.exceptions = self.read_exceptions(item, ctx, partial=False)
        self.col.define_rule(info)

    def _rule_value(self, item: dict, key: str, ctx: Ctx, partial_exceptions: bool = False) -> Any:
        if key in ("condition", "output", "desc"):
            return self._str(item, key, ctx)
        if key == "tags":
            return self._seq_of_str(item, key, ctx, optional=False)
        if key == "exceptions":
            return self.read_exceptions(item, ctx, partial=partial_exceptions)
        if key == "priority":
            text = self._str(item, "priority", ctx)
            prio = Priority.parse(text)
            if prio is None:
                raise LoadError(self._at(item, "priority", ctx, D.LOAD_ERR_YAML_VALIDATE,
                                         f"Invalid priority '{text}'"))
            return prio
        if key == "capture_duration":
            return self._int(item, key, ctx)
        return self._bool(item, key, ctx, optional=False)


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _nested_text(value: Any) -> Any:
    if isinstance(value, list):
        return [_nested_text(v) for v in value]
    return _scalar_text(value)


# --- compiling ---------------------------------------------------------------------

_DELIMS = " \t\n\r(),="
_BLANKS = " \t\n\r"


def _quote_item(item: str) -> str:
    if " " in item and item[:1] not in ("'", '"'):
        return '"' + item + '"'
    return item


def _substitute_list(cond: str, name: str, items: list[str]) -> tuple[str, bool]:
    """Replace every delimited occurrence of list ``name`` by its items,
    the textual way Falco does (so behaviour on odd inputs matches)."""
    used = False
    start = cond.find(name)
    while start != -1:
        end = start + len(name)
        if (start == 0 or cond[start - 1] in _DELIMS) and \
                (end >= len(cond) or cond[end] in _DELIMS):
            while start > 0 and cond[start - 1] in _BLANKS:
                start -= 1
            while end < len(cond) and cond[end] in _BLANKS:
                end += 1
            sub = ", ".join(_quote_item(i) for i in items)
            if not sub:
                if start > 0 and cond[start - 1] == ",":
                    start -= 1
                elif end < len(cond) and cond[end] == ",":
                    end += 1
            new = (cond[:start] + " " if start > 0 else "") + sub + " " + cond[end:]
            cond = new
            start += len(sub) + 1
            used = True
        start = cond.find(name, start + 1)
    return cond, used


def _source_position(src: str, node: yaml.Node | None, cond: str, offset: int) -> tuple[int, int]:
    """Best-effort file line/column of ``cond[offset]`` for a condition that
    came from YAML scalar ``node``: the token at the offset is searched for
    in the scalar's source text (folded and quoted scalars do not map
    offsets one to one)."""
    if node is None or not src:
        return 0, 0
    start, end = node.start_mark.index, node.end_mark.index
    segment = src[start:end]
    token = cond[offset:offset + 24].split("\n")[0]
    for length in (len(token), 12, 6, 3):
        probe = token[:length]
        if probe.strip():
            idx = segment.find(probe)
            if idx != -1:
                abs_idx = start + idx
                line = src.count("\n", 0, abs_idx) + 1
                col = abs_idx - (src.rfind("\n", 0, abs_idx) + 1) + 1
                return line, col
    return _mark(node)


class _Compiler:
    def __init__(self, col: _Collector) -> None:
        self.col = col
        self.res = col.res
        self.lists: dict[str, ListDef] = {}
        self.macro_ast: dict[str, Node] = {}
        self.macro_used: set[str] = set()
        self.list_used: set[str] = set()

    def substitute_lists(self, cond: str) -> str:
        for name, lst in self.lists.items():
            if name in cond:
                cond, used = _substitute_list(cond, name, lst.items)
                if used:
                    self.list_used.add(name)
        return cond

    def compile_lists(self) -> None:
        infos = sorted(self.col.lists.values(), key=lambda i: i.index)
        for info in infos:
            items: list[str] = []
            for item in info.items:
                ref = self.col.lists.get(item)
                if ref is not None and ref.index < info.visibility and ref is not info:
                    self.list_used.add(ref.name)
                    items.extend(self.lists[ref.name].items if ref.name in self.lists
                                 else ref.items)
                else:
                    items.append(item)
            self.lists[info.name] = ListDef(info.name, items, False,
                                            info.ctx.filename, info.ctx.line)

    def _parse(self, cond: str, ctx: Ctx, node: yaml.Node | None, src: str) -> Node:
        try:
            return parse(cond)
        except FilterSyntaxError as exc:
            line, col = _source_position(src, node, cond, exc.pos)
            raise LoadError(ctx.diag(D.LOAD_ERR_COMPILE_CONDITION, exc.message,
                                     line or None, col or None)) from None

    def compile_macros(self) -> None:
        infos = sorted(self.col.macros.values(), key=lambda i: i.index)
        for info in infos:
            cond = self.substitute_lists(info.cond)
            self.macro_ast[info.name] = self._parse(cond, info.ctx, info.cond_node, info.cond_src)
        for info in infos:
            visible = {m.name for m in infos if m.index < info.visibility}
            try:
                self.macro_ast[info.name] = self.expand(self.macro_ast[info.name], visible,
                                                        info.ctx, (info.name,))
            except RecursionError:
                raise LoadError(info.ctx.diag(D.LOAD_ERR_COMPILE_CONDITION,
                                              ERROR_TOO_DEEP)) from None
            self.res.macros[info.name] = MacroDef(info.name, info.cond,
                                                  self.macro_ast[info.name], False,
                                                  info.ctx.filename, info.ctx.line)

    def expand(self, node: Node, visible: set[str] | None, ctx: Ctx,
               stack: tuple[str, ...] = ()) -> Node:
        """Substitute macro references; ``visible`` None means every macro."""
        if isinstance(node, Identifier):
            name = node.name
            if name not in self.macro_ast or (visible is not None and name not in visible):
                raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE,
                                         f"Undefined macro '{name}' used in filter."))
            if name in stack:
                raise LoadError(ctx.diag(D.LOAD_ERR_VALIDATE,
                                         f"reference loop in macro '{name}'"))
            self.macro_used.add(name)
            return self.expand(self.macro_ast[name], visible, ctx, stack + (name,))
        if isinstance(node, BoolOp):
            children = tuple(self.expand(c, visible, ctx, stack) for c in node.children)
            if all(a is b for a, b in zip(children, node.children)):
                return node
            return BoolOp(node.op, children, node.pos)
        if isinstance(node, Not):
            child = self.expand(node.child, visible, ctx, stack)
            return node if child is node.child else Not(child, node.pos)
        return node

    def compile_rules(self) -> None:
        for info in sorted(self.col.rules.values(), key=lambda i: i.index):
            if info.unknown_source:
                continue
            try:
                rule = self.compile_rule(info)
            except RecursionError:
                raise LoadError(info.ctx.diag(D.LOAD_ERR_COMPILE_CONDITION,
                                              ERROR_TOO_DEEP)) from None
            if rule is not None:
                self.res.rules.append(rule)

    def _origin(self, bad: object) -> str | None:
        """Name of the macro whose body holds node ``bad`` (identity)."""
        for name in self.macro_used:
            if any(n is bad for n in walk(self.macro_ast[name])):
                return name
        return None

    def compile_rule(self, info: _RuleInfo) -> Rule | None:
        ctx = info.ctx
        cond = info.cond
        ex_fields: list[str] = []
        if info.exceptions:
            cond = build_exceptions_condition(cond, info.exceptions, ex_fields)
        output = info.output
        if "%container.info" in output:
            self.res.warnings.append(ctx.diag(
                D.LOAD_DEPRECATED_ITEM,
                "%container.info is deprecated and no more useful; it is dropped from the "
                "output"))
            output = output.replace("%container.info", "")
        octx = info.output_ctx or ctx
        err = check_output(output)
        if err is not None:
            if info.skip_if_unknown_filter:
                self.res.warnings.append(octx.diag(D.LOAD_UNKNOWN_FILTER, err))
                return None
            raise LoadError(octx.diag(D.LOAD_ERR_COMPILE_OUTPUT, err))
        if "%evt.dir" in output:
            self.res.warnings.append(octx.diag(
                D.LOAD_DEPRECATED_ITEM,
                "usage of deprecated field 'evt.dir' has been detected in the rule output"))

        cond = self.substitute_lists(cond)
        ast = self._parse(cond, ctx, info.cond_node, info.cond_src)
        ast = self.expand(ast, None, ctx)
        self._condition_warnings(ast, ctx)
        try:
            for w in check(ast):
                self.res.warnings.append(self._cond_diag(D.LOAD_COMPILE_CONDITION, w.message,
                                                         None, info, cond, w.pos))
        except FilterCheckError as exc:
            bad = getattr(exc, "node", None)
            diag = self._cond_diag(D.LOAD_ERR_COMPILE_CONDITION, exc.message, bad, info,
                                   cond, exc.pos)
            if info.skip_if_unknown_filter and exc.message.startswith("unknown field"):
                self.res.warnings.append(Diagnostic(D.LOAD_UNKNOWN_FILTER, diag.message,
                                                    diag.filename, diag.line, diag.column,
                                                    diag.item_type, diag.item_name))
                return None
            raise LoadError(diag) from None
        self._check_event_names(ast, info, cond)
        try:
            cofinite, names = evttype_set(ast)
        except EvtTypeError as exc:
            raise LoadError(ctx.diag(D.LOAD_ERR_COMPILE_CONDITION, exc.message)) from None
        if info.source == SYSCALL_SOURCE and info.warn_evttypes and cofinite \
                and not _never_true(ast):
            self.res.warnings.append(ctx.diag(
                D.LOAD_NO_EVTTYPE,
                "Rule matches too many evt.type values. This has a significant "
                "performance penalty."))
        return Rule(info.name, ast, to_string(ast), output, info.desc, info.priority,
                    tuple(info.tags), info.enabled, info.source,
                    None if cofinite else set(names), tuple(ex_fields), info.capture,
                    info.capture_duration, info.warn_evttypes, info.skip_if_unknown_filter,
                    ctx.filename, ctx.line)

    def _cond_diag(self, code: str, message: str, bad: object, info: _RuleInfo,
                   cond: str, pos: int) -> Diagnostic:
        origin = self._origin(bad) if bad is not None else None
        if origin is not None:
            m = self.col.macros[origin]
            line, col = _source_position(m.cond_src, m.cond_node,
                                         self.substitute_lists(m.cond), pos)
            return info.ctx.diag(code, f"{message} (in macro '{origin}' at "
                                       f"{m.ctx.filename}:{line}:{col})",
                                 line or None, col or None)
        line, col = _source_position(info.cond_src, info.cond_node, cond, pos)
        return info.ctx.diag(code, message, line or None, col or None)

    def _check_event_names(self, ast: Node, info: _RuleInfo, cond: str) -> None:
        """An ``evt.type`` value must name an event or a syscall, as in Falco
        ("unknown event type X"): a list that never expands (one defined in
        terms of itself) otherwise matches nothing, silently."""
        for n in walk(ast):
            if not (isinstance(n, Compare) and isinstance(n.left, FieldRef)
                    and n.left.name == "evt.type" and n.left.arg is None):
                continue
            values = (n.right.text,) if isinstance(n.right, Value) else \
                n.right.items if isinstance(n.right, ListValue) else ()
            for v in values:
                if v not in _EVENT_NAMES:
                    raise LoadError(self._cond_diag(D.LOAD_ERR_COMPILE_CONDITION,
                                                    f"unknown event type {v}", n, info,
                                                    cond, n.pos))

    def _condition_warnings(self, ast: Node, ctx: Ctx) -> None:
        dir_seen = na_seen = False
        for n in walk(ast):
            if isinstance(n, FieldRef) and n.name == "evt.dir" and not dir_seen:
                dir_seen = True
                self.res.warnings.append(ctx.diag(
                    D.LOAD_DEPRECATED_ITEM,
                    "usage of deprecated field 'evt.dir' has been detected in the rule "
                    "condition"))
            elif isinstance(n, Compare) and not na_seen and n.op in ("=", "==", "!=", "in") \
                    and isinstance(n.left, FieldRef) and n.left.name.startswith(_NA_UNSAFE):
                vals = (n.right.text,) if isinstance(n.right, Value) else \
                    n.right.items if isinstance(n.right, ListValue) else ()
                if "<NA>" in vals:
                    na_seen = True
                    self.res.warnings.append(ctx.diag(
                        D.LOAD_UNSAFE_NA_CHECK,
                        "condition has an unsafe comparison with '<NA>': fields may be "
                        "empty for other reasons"))

    def mark_references(self) -> None:
        """Mark the macros and lists that macros and rules refer to, without
        expanding anything (after an error: best effort, errors ignored)."""
        asts: list[Node] = []
        for info in self.col.macros.values():
            if info.name not in self.macro_ast:
                try:
                    self.macro_ast[info.name] = parse(self.substitute_lists(info.cond))
                except FilterSyntaxError:
                    continue
        for info in self.col.rules.values():
            if not info.unknown_source:
                try:
                    asts.append(parse(self.substitute_lists(info.cond)))
                except FilterSyntaxError:
                    pass
        # As when compiling: a macro is used when a rule or a macro names it.
        for node in asts + list(self.macro_ast.values()):
            for n in walk(node):
                if isinstance(n, Identifier) and n.name in self.macro_ast:
                    self.macro_used.add(n.name)

    def report_unused(self) -> None:
        for name, m in self.col.macros.items():
            if name not in self.macro_used:
                self.res.warnings.append(m.ctx.diag(D.LOAD_UNUSED_MACRO,
                                                    "Macro not referred to by any other "
                                                    "rule/macro"))
            elif name in self.res.macros:
                self.res.macros[name].used = True
        for name, lst in self.col.lists.items():
            if name not in self.list_used:
                self.res.warnings.append(lst.ctx.diag(D.LOAD_UNUSED_LIST,
                                                      "List not referred to by any other "
                                                      "rule/macro"))
            else:
                self.lists[name].used = True
        self.res.lists = dict(self.lists)


# Every name evt.type can have: event names and syscall names.
_EVENT_NAMES = frozenset([e.name for e in _table.EVENTS] + list(_table.SYSCALL_NAMES))


# Like Falco, "<NA>" comparisons are only flagged for the JSON-backed k8s
# audit fields, where a missing value and the string "<NA>" look the same.
_NA_UNSAFE = ("ka.", "jevt.")


def _never_true(node: Node) -> bool:
    """Statically unsatisfiable conditions (Falco's ``evt.num = 0`` idiom);
    rules built on them are placeholders and get no evt.type warning."""
    if isinstance(node, Compare):
        return (isinstance(node.left, FieldRef) and node.left.name == "evt.num"
                and node.op in ("=", "==") and isinstance(node.right, Value)
                and node.right.text.strip() == "0")
    if isinstance(node, BoolOp):
        test = any if node.op == "and" else all
        return test(_never_true(c) for c in node.children)
    return False


# --- entry points ---------------------------------------------------------------------

def _read_source(filename: str, text: str, col: _Collector) -> None:
    loader = _Loader(text)
    try:
        reader = _Reader(filename, text, col)
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node)
            if data is None:
                continue
            if not isinstance(data, list):
                line, c = _mark(node)
                raise LoadError(Diagnostic(D.LOAD_ERR_YAML_VALIDATE,
                                           "Rules content is not yaml array of objects",
                                           filename, line, c, "rules content", ""))
            for value, item_node in zip(data, node.value):
                if value is not None:
                    reader.read_item(value, item_node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, c = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise LoadError(Diagnostic(D.LOAD_ERR_YAML_PARSE, str(exc).replace("\n", " "),
                                   filename, line, c, "rules content", "")) from None
    finally:
        loader.dispose()


def load_rules(sources: list[tuple[str, str]]) -> LoadResult:
    """Load rule files given as ``(filename, yaml_text)``, later files
    modifying earlier ones.  Never raises for bad input: problems are in
    ``result.errors`` (loading stops at the first one) and ``warnings``."""
    result = LoadResult()
    col = _Collector(result)
    try:
        for filename, text in sources:
            _read_source(filename, text, col)
        comp = _Compiler(col)
        comp.compile_lists()
        try:
            comp.compile_macros()
        except LoadError:
            # Falco gets far enough past a bad macro to still warn about
            # unused macros and lists: find what the rest refers to.
            comp.mark_references()
            comp.report_unused()
            raise
        comp.compile_rules()
        comp.report_unused()
    except LoadError as exc:
        result.errors.append(exc.diag)
    return result


def load_rule_files(paths: list[str | Path]) -> LoadResult:
    """Load files and directories (a directory contributes its ``*.yaml``
    files in name order), in the order given."""
    sources: list[tuple[str, str]] = []
    for p in map(Path, paths):
        files = sorted(p.glob("*.yaml")) if p.is_dir() else [p]
        for f in files:
            try:
                sources.append((str(f), f.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                res = LoadResult()
                res.errors.append(Diagnostic(D.LOAD_ERR_FILE_READ, f"cannot read file: {exc}",
                                             str(f)))
                return res
    return load_rules(sources)
