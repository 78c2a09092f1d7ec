"""Located diagnostics: the one error/warning type of parsing, validation and lint."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


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
