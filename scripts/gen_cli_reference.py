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
traceback. `lint` also exits 1 when findings reach `--fail-on`, and `diff` when
the server differs from the files. Commands that talk to a server (`login`, `get`,
`describe`, `delete`, `apply`, `diff`, `audit`, `policy`, `token`, `flows --api`)
exit 2 on a refusal or any other API error, with the server's message and field
errors. Manifests for `apply`: [manifests.md](manifests.md).
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
    if getattr(param, "envvar", None):
        help_text += f" [env {param.envvar}]"
    return f"| {names} | {kind} | {required} | {shown} | {help_text} |"


def _section(parts: list[str], path: str, cmd: Any, ctx: Any) -> None:
    arguments = [p for p in cmd.params if getattr(p, "param_type_name", "") == "argument"]
    usage = " ".join(f"{p.name.upper()}{'...' if p.nargs == -1 else ''}" for p in arguments)
    parts.append(f"## `{path}{' ' + usage if usage else ''}`\n")
    parts.append((cmd.help or "").strip() + "\n")
    for arg in arguments:
        help_text = (getattr(arg, "help", None) or "").replace("\n", " ")
        parts.append(f"- `{arg.name.upper()}`: {help_text}")
    if arguments:
        parts.append("")
    options = [p for p in cmd.params if getattr(p, "param_type_name", "") == "option"]
    if options:
        parts.append("| option | type | required | default | description |")
        parts.append("|---|---|---|---|---|")
        parts.extend(_option_row(p, ctx) for p in options)
        parts.append("")
    if hasattr(cmd, "list_commands"):
        sub_ctx = cmd.context_class(cmd)
        for name in cmd.list_commands(sub_ctx):
            _section(parts, f"{path} {name}", cmd.get_command(sub_ctx, name), sub_ctx)


def render() -> str:
    group = typer.main.get_command(app)
    parts = [HEADER]
    ctx = group.context_class(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        _section(parts, f"netwarden {name}", cmd, ctx)
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if OUT.read_text() == text else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
