"""Docs stay true: the CLI reference is generated from the CLI, links resolve."""

from __future__ import annotations

import re
from pathlib import Path

from scripts import gen_api_reference
from scripts.gen_cli_reference import OUT, render

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current() -> None:
    assert OUT.read_text() == render(), "docs/reference/cli.md is stale: run `make docs`"


def test_api_reference_is_current() -> None:
    current = gen_api_reference.OUT.read_text()
    assert current == gen_api_reference.render(), "docs/reference/api.md is stale: `make docs`"


def test_markdown_links_resolve() -> None:
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" in target:
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_readme_starts_with_the_two_commands() -> None:
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if line.strip()]
    commands = [line.split("#")[0].strip() for line in lines[1:5] if line.startswith("make ")]
    assert commands[:2] == ["make demo", "make test"]
