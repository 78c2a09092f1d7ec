"""Generate docs/reference/cli.md from the real CLI (run: make docs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer.main

from netwarden.cli.main import app

OUT = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"

HEADER = """# CLI reference

Generated from the command definitions by `scripts/gen_cli_reference.py`
(`make docs`); a test fails when this file is out of date.

Exit status of every command: 0 on success, 2 with a located message
(`file:line (document N) field.path: error: ...`) for bad input, never a
traceback. `lint` also exits 1 when findings reach `--fail-on`.
"""


def _option_row(param: Any, ctx: Any) -> str:
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    kind = str(param.display_type(ctx)).strip("<>").replace("|", "\\|")
    if getattr(param, "is_flag", False):
        kind = "flag"
    required = "yes" if param.required else ""
    default = param.default
    shown = "" if default in (None, (), [], False) or param.required else f"`{default}`"
    if hasattr(default, "value"):
        shown = f"`{default.value}`"
    help_text = (getattr(param, "help", None) or "").replace("\n", " ")
    return f"| {names} | {kind} | {required} | {shown} | {help_text} |"


def render() -> str:
    group = typer.main.get_command(app)
    parts = [HEADER]
    ctx = group.context_class(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        parts.append(f"## `netwarden {name}`\n")
        parts.append((cmd.help or "").strip() + "\n")
        options = [p for p in cmd.params if getattr(p, "param_type_name", "") == "option"]
        rows = [_option_row(p, ctx) for p in options]
        parts.append("| option | type | required | default | description |")
        parts.append("|---|---|---|---|---|")
        parts.extend(rows)
        parts.append("")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if OUT.read_text() == text else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
