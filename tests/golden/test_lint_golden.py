"""`netwarden lint` on the manifests in tests/golden/lint/, against golden JSON output.

Each ``<case>.yaml`` has ``<case>.expected.json``: the output of
``netwarden lint -f <case>.yaml -o json``. ``make golden`` (which sets
NETWARDEN_REGEN_GOLDEN=1) rewrites them after an intended change.

Cases are named after the check they exercise: ``nw301-egress-dns-blocked*.yaml``
must report NW301, ``nw301-egress-dns-blocked*-ok*.yaml`` must not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.cli.main import app
from netwarden.engine.lint import CHECKS, Check, lint, sort_key
from netwarden.engine.world import World
from netwarden.sources.loader import load_inputs

LINT_DIR = Path(__file__).resolve().parent / "lint"
CASES = sorted(LINT_DIR.glob("*.yaml"))
REGEN = os.environ.get("NETWARDEN_REGEN_GOLDEN") == "1"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference" / "lint.md"


def _invoke(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.chdir(LINT_DIR)
    result = CliRunner().invoke(app, ["lint", *args])
    return result.exit_code, result.stdout, result.stderr


def _expected_path(case: Path) -> Path:
    return case.with_suffix(".expected.json")


def _expected_codes(case: Path) -> set[str]:
    return {d["code"] for d in json.loads(_expected_path(case).read_text())}


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, stderr = _invoke(
        ["-f", case.name, "-o", "json", "--fail-on", "never"], monkeypatch
    )
    assert code == 0, stdout + stderr
    actual = json.loads(stdout)
    expected_path = _expected_path(case)
    if REGEN:
        expected_path.write_text(json.dumps(actual, indent=2) + "\n")
    assert expected_path.exists(), f"{expected_path.name} is missing: run `make golden`"
    assert actual == json.loads(expected_path.read_text()), "run `make golden` if intended"


@pytest.mark.parametrize("check", CHECKS, ids=[c.number for c in CHECKS])
def test_every_check_has_a_positive_and_a_negative_case(check: Check) -> None:
    code = check.code
    stems = [c for c in CASES if c.stem.startswith(code.lower())]
    positive = [c for c in stems if "-ok" not in c.stem]
    negative = [c for c in stems if "-ok" in c.stem]
    assert positive and negative, f"{code}: add {code.lower()}.yaml and {code.lower()}-ok.yaml"
    for case in positive:
        assert code in _expected_codes(case), f"{case.name} does not report {code}"
    for case in negative:
        assert code not in _expected_codes(case), f"{case.name} reports {code}"


def test_clean_case_has_no_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, _ = _invoke(["-f", "clean.yaml"], monkeypatch)
    assert code == 0
    assert stdout.strip() == "no findings"


def test_several_files_sorted_by_file_and_line(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [
        "nw702-endport-ignored.yaml",
        "nw101-no-pods-selected.yaml",
        "nw201-and-or-selector-confusion.yaml",
    ]
    args = [a for f in files for a in ("-f", f)]
    _, stdout, _ = _invoke([*args, "-o", "json", "--fail-on", "never"], monkeypatch)
    records = json.loads(stdout)
    keys = [(r["file"], r["document"], r["line"]) for r in records]
    assert keys == sorted(keys)
    assert {r["file"] for r in records} == set(files)


def test_exit_status_follows_fail_on(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings = "nw702-endport-ignored.yaml"  # one warning
    info_only = "nw402-redundant-allow-ok.yaml"  # nothing
    assert _invoke(["-f", warnings], monkeypatch)[0] == 1  # default: --fail-on warning
    assert _invoke(["-f", warnings, "--fail-on", "warning"], monkeypatch)[0] == 1
    assert _invoke(["-f", warnings, "--fail-on", "error"], monkeypatch)[0] == 0
    assert _invoke(["-f", warnings, "--fail-on", "never"], monkeypatch)[0] == 0
    assert _invoke(["-f", info_only], monkeypatch)[0] == 0


def test_info_findings_do_not_fail_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = tmp_path / "redundant.yaml"
    manifest.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: web, namespace: x}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 80}]\n"
        "  - ports: [{port: 80}]\n"
    )
    code, stdout, _ = _invoke(["-f", str(manifest)], monkeypatch)
    assert code == 0
    assert "NW402-redundant-allow" in stdout and "0 warning, 1 info" in stdout


def test_bad_input_exits_2_with_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: x, namespace: y}\nspec:\n  podSelector: {}\n  policyTypes: [Sideways]\n"
    )
    code, _, stderr = _invoke(["-f", str(bad)], monkeypatch)
    assert code == 2
    assert f"{bad}:6" in stderr and "Sideways" in stderr
    assert _invoke(["-f", str(tmp_path / "missing.yaml")], monkeypatch)[0] == 2
    assert _invoke([], monkeypatch)[0] == 2
    assert _invoke(["-f", "clean.yaml", "--check", "NW999"], monkeypatch)[0] == 2


def test_table_output(monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, _ = _invoke(["-f", "nw702-endport-ignored.yaml"], monkeypatch)
    assert code == 1
    lines = stdout.splitlines()
    assert lines[0].split() == ["LOCATION", "SEVERITY", "CODE", "SUBJECT", "MESSAGE"]
    assert "nw702-endport-ignored.yaml:10 (document 1) spec.ingress[0].ports[1].endPort" in lines[1]
    assert lines[-1] == "1 finding: 0 error, 1 warning, 0 info"


def test_list_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, _ = _invoke(["--list-checks", "-o", "json"], monkeypatch)
    assert code == 0
    assert [c["code"] for c in json.loads(stdout)] == [c.code for c in CHECKS]


def test_registry_codes_are_unique_and_ordered() -> None:
    codes = [c.code for c in CHECKS]
    assert len({c.split("-")[0] for c in codes}) == len(codes)
    assert codes == sorted(codes)
    for code in codes:
        number, _, slug = code.partition("-")
        assert number[:2] == "NW" and number[2:].isdigit() and len(number) == 5, code
        assert slug and slug == slug.lower(), code


def test_docs_list_every_check() -> None:
    text = DOCS.read_text()
    missing = [c.code for c in CHECKS if f"`{c.code}`" not in text]
    assert not missing, f"document {missing} in {DOCS}"


def test_engine_api_is_pure_and_sorted(capsys: pytest.CaptureFixture[str]) -> None:
    files = ["nw702-endport-ignored.yaml", "nw101-no-pods-selected.yaml"]
    inp = load_inputs([str(LINT_DIR / f) for f in files])
    assert not inp.errors
    world = World(inp.clusters, inp.policies)
    findings = lint(world)
    assert findings == sorted(findings, key=sort_key)
    assert {d.code for d in findings} == {"NW101-no-pods-selected", "NW702-endport-ignored"}
    assert capsys.readouterr() == ("", "")
    only = lint(world, {"NW101"})
    assert only and {d.code for d in only} == {"NW101-no-pods-selected"}
