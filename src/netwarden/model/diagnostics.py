"""Located diagnostics: the one error/warning type of parsing, validation and lint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

PathKey = tuple[str | int, ...]


def path_text(path: PathKey) -> str:
    """``("spec", "ingress", 0, "from")`` -> ``spec.ingress[0].from``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Location:
    """Where something came from: file, document index (0-based), line (1-based), field path."""

    file: str = "<input>"
    document: int | None = None
    line: int | None = None
    path: str = ""

    def at(self, path: str, line: int | None = None) -> Location:
        return Location(self.file, self.document, line if line is not None else self.line, path)

    def __str__(self) -> str:
        out = self.file
        if self.line is not None:
            out += f":{self.line}"
        if self.document is not None:
            out += f" (document {self.document + 1})"
        if self.path:
            out += f" {self.path}"
        return out


@dataclass(frozen=True, eq=False)
class SourceMap:
    """Where the fields of one object are: its document's line per field path.

    ``root`` is the object's own path inside the document (``("items", 3)`` for
    an item of a List). Paths given to ``location`` are relative to the object.
    """

    file: str
    document: int | None
    lines: Mapping[PathKey, int]
    root: PathKey = ()

    def location(self, path: PathKey = ()) -> Location:
        full = (*self.root, *path)
        probe = full
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return Location(self.file, self.document, self.lines.get(probe), path_text(full))

    def relative(self, location: Location) -> PathKey | None:
        """The object-relative path of a location in this object, if it is one."""
        if location.file != self.file or location.document != self.document:
            return None
        full = self._by_text.get(location.path)
        if full is None or full[: len(self.root)] != self.root:
            return None
        return full[len(self.root) :]

    @cached_property
    def _by_text(self) -> dict[str, PathKey]:
        return {path_text(path): path for path in self.lines}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    location: Location = Location()
    subject: str = ""  # e.g. "NetworkPolicy x/allow-dns"

    def __str__(self) -> str:
        who = f" [{self.subject}]" if self.subject else ""
        return f"{self.location}: {self.severity.value}: {self.message} ({self.code}){who}"

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.location.file,
            "document": self.location.document,
            "line": self.location.line,
            "path": self.location.path,
            "subject": self.subject,
        }


class InputError(Exception):
    """Raised with the diagnostics that make an input unusable."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))
