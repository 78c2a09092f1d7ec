"""Names <-> ids for the CLI's commands: :class:`netwarden.client.names.Names`, where a
name that is not found ends the command with an error message (exit status 2)."""

from __future__ import annotations

from netwarden.cli.offline import fail
from netwarden.client import names
from netwarden.client.names import Doc


class Names(names.Names):
    def require(self, kind: str, name: str) -> Doc:
        try:
            return super().require(kind, name)
        except names.NameNotFound as exc:
            fail(f"error: {exc}")
