"""Multi-document YAML/JSON with the line of every field, and a located reader."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from netwarden.model.diagnostics import (
    Diagnostic,
    Location,
    PathKey,
    Severity,
    path_text,
)

__all__ = ["Cursor", "PathKey", "SourceDoc", "load_documents", "path_text"]


# libyaml's composer when available (same nodes and marks, much faster).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_SCALARS: dict[tuple[str, str], Any] = {}


class _Loader(_LOADER):  # type: ignore[misc]
    """The composer with a memo for implicit scalar tags (a pure function of the text)."""

    _tags: ClassVar[dict[tuple[str, bool], str]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[1]:
            return _STR_TAG  # a quoted scalar is always a string
        key = (value, implicit[0]) if kind is yaml.ScalarNode else None
        tag = self._tags.get(key) if key is not None else None
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if key is not None and isinstance(value, str) and len(self._tags) < 65536:
                self._tags[key] = tag
        return tag

    # SafeLoader has no path resolvers: skip the per-node bookkeeping.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


@dataclass
class SourceDoc:
    """One parsed document with the line (1-based) where each field path starts."""

    file: str
    index: int
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def location(self, path: PathKey = ()) -> Location:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return Location(self.file, self.index, self.lines.get(probe), path_text(path))


def _construct(
    node: yaml.Node,
    path: PathKey,
    lines: dict[PathKey, int],
    active: set[int] | None = None,
) -> Any:
    """Python value of a composed node; records the line of every field path."""
    lines[path] = node.start_mark.line + 1
    cls = node.__class__
    if cls is yaml.ScalarNode:
        return _scalar(node)
    if active is None:
        active = set()
    if id(node) in active:
        # An alias to one of its own ancestors ("&a [*a]") has no finite value.
        raise yaml.constructor.ConstructorError(
            None, None, "found a recursive alias", node.start_mark
        )
    active.add(id(node))
    try:
        if cls is yaml.MappingNode:
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.__class__ is yaml.ScalarNode and key_node.tag == _STR_TAG:
                    key = key_node.value
                else:
                    key = _construct(key_node, (*path, "<key>"), {}, active)
                    if isinstance(key, (list, dict)):
                        key = str(key)
                key_path = (*path, str(key))
                out[key] = _construct(value_node, key_path, lines, active)
                lines[key_path] = key_node.start_mark.line + 1
            return out
        return [_construct(item, (*path, i), lines, active) for i, item in enumerate(node.value)]
    finally:
        active.discard(id(node))


def _scalar(node: yaml.Node) -> Any:
    if node.tag == _STR_TAG:
        return node.value
    cached = _SCALARS.get((node.tag, node.value))
    if cached is not None:
        return cached
    constructor = yaml.constructor.SafeConstructor()
    try:
        value = constructor.construct_object(node, deep=True)
        if isinstance(value, (int, float, bool)) and len(_SCALARS) < 65536:
            _SCALARS[(node.tag, node.value)] = value
        return value
    except yaml.YAMLError:
        raise
    except Exception as exc:
        # SafeConstructor raises plain Python errors for some bad scalars, e.g. an
        # impossible timestamp (2001-13-01), "!!int abc", "!!bool maybe" or
        # "!!timestamp abc" (AttributeError).
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot read {node.tag} value {node.value!r}: {exc}", node.start_mark
        ) from exc


def load_documents(text: str, file: str) -> tuple[list[SourceDoc], list[Diagnostic]]:
    """Parse every document of a YAML (or JSON) stream; syntax errors become diagnostics."""
    docs: list[SourceDoc] = []
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
            if node is None:
                continue
            lines: dict[PathKey, int] = {}
            data = _construct(node, (), lines)
            docs.append(SourceDoc(file, index, data, lines))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        document = len(docs)
        if isinstance(exc, yaml.reader.ReaderError):
            # Raised for the whole stream before parsing (e.g. a control character):
            # it has a character position, not a mark.
            line = text.count("\n", 0, exc.position) + 1
            document = _document_at(text, line)
            if isinstance(exc.character, int):
                problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        loc = Location(file, document, line, "")
        return docs, [Diagnostic("yaml-syntax", Severity.ERROR, f"invalid YAML: {problem}", loc)]
    except RecursionError:
        loc = Location(file, len(docs), None, "")
        message = "invalid YAML: the document is nested too deeply"
        return docs, [Diagnostic("yaml-syntax", Severity.ERROR, message, loc)]
    return docs, []


def _document_at(text: str, line: int) -> int:
    """The 0-based index of the document that contains ``line`` (1-based)."""
    index, content = 0, False
    for row in text.splitlines()[: line - 1]:
        if row.startswith("---"):
            index += 1 if content else 0
            content = False
        elif row.strip() and not row.lstrip().startswith("#"):
            content = True
    return index


class Cursor:
    """A located view of one value in a document; type errors become diagnostics."""

    __slots__ = ("diagnostics", "doc", "path", "value")

    def __init__(
        self, doc: SourceDoc, value: Any, path: PathKey, diagnostics: list[Diagnostic]
    ) -> None:
        self.doc = doc
        self.value = value
        self.path = path
        self.diagnostics = diagnostics

    @staticmethod
    def root(doc: SourceDoc, diagnostics: list[Diagnostic]) -> Cursor:
        return Cursor(doc, doc.data, (), diagnostics)

    @property
    def location(self) -> Location:
        return self.doc.location(self.path)

    @property
    def present(self) -> bool:
        return self.value is not None

    def error(self, message: str, code: str = "invalid-field") -> None:
        self.diagnostics.append(Diagnostic(code, Severity.ERROR, message, self.location))

    def warn(self, message: str, code: str) -> None:
        self.diagnostics.append(Diagnostic(code, Severity.WARNING, message, self.location))

    def get(self, key: str) -> Cursor:
        value = self.value.get(key) if isinstance(self.value, dict) else None
        return Cursor(self.doc, value, (*self.path, key), self.diagnostics)

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def is_map(self, what: str = "an object") -> bool:
        if self.value is None:
            return False
        if not isinstance(self.value, dict):
            self.error(f"expected {what}, got {_kind(self.value)}")
            return False
        return True

    def items(self) -> Iterator[Cursor]:
        """The elements of a list (nothing if absent; an error if not a list)."""
        if self.value is None:
            return
        if not isinstance(self.value, list):
            self.error(f"expected a list, got {_kind(self.value)}")
            return
        for i, item in enumerate(self.value):
            yield Cursor(self.doc, item, (*self.path, i), self.diagnostics)

    def keys(self) -> list[str]:
        return [str(k) for k in self.value] if isinstance(self.value, dict) else []

    def string(self, default: str | None = None) -> str | None:
        if self.value is None:
            return default
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int, float)):
            self.error(f"expected a string, got {_kind(self.value)}")
            return default
        return str(self.value)

    def integer(self, default: int | None = None) -> int | None:
        if self.value is None:
            return default
        if isinstance(self.value, bool):
            self.error("expected an integer, got a boolean")
            return default
        if isinstance(self.value, int):
            return self.value
        if isinstance(self.value, str):
            number = decimal_int(self.value)
            if number is not None:
                return number
        self.error(f"expected an integer, got {_kind(self.value)} {self.value!r}")
        return default

    def boolean(self, default: bool | None = None) -> bool | None:
        if self.value is None:
            return default
        if isinstance(self.value, bool):
            return self.value
        self.error(f"expected true or false, got {_kind(self.value)}")
        return default

    def string_map(self) -> dict[str, str]:
        if not self.is_map("a map of strings"):
            return {}
        out: dict[str, str] = {}
        for key in self.keys():
            item = self.get(key)
            # A null value reads as "" (as in Kubernetes' map[string]string); dropping
            # it would silently widen a selector such as {matchLabels: {app: null}}.
            value = "" if item.value is None else item.string()
            if value is not None:
                out[key] = value
        return out

    def string_list(self) -> list[str]:
        out = []
        for item in self.items():
            value = item.string()
            if value is not None:
                out.append(value)
        return out


def decimal_int(text: str) -> int | None:
    """An ASCII decimal integer ("80", " 80 "), or None; never raises.

    ``str.isdigit`` alone accepts characters such as "²" that ``int`` rejects, and
    ``int`` rejects strings longer than Python's digit limit.
    """
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__
