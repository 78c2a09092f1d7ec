"""The wheel carries the built console (hatch_build.py: web/dist -> netwarden/api/static),
where the server looks first, so an installed `netwarden serve` needs no Node.js."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from netwarden.api import console
from tests.console.conftest import ROOT, WEB

pytestmark = pytest.mark.slow


def _uv() -> str | None:
    tool = ROOT / ".tools" / "bin" / "uv"  # what `make` installs
    return str(tool) if tool.is_file() else shutil.which("uv")


def test_the_wheel_carries_the_console(tmp_path: Path) -> None:
    if not (WEB / "dist" / "index.html").is_file():
        pytest.fail("the console is not built: run `make web` (make test does)")
    uv = _uv()
    if uv is None:
        pytest.skip("uv builds the wheel (make installs it in .tools)")
    done = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("netwarden-*.whl")
    built = sorted(p.relative_to(WEB / "dist").as_posix() for p in (WEB / "dist").rglob("*"))
    with zipfile.ZipFile(wheel) as archive:
        prefix = "netwarden/api/static/"
        packed = sorted(n[len(prefix) :] for n in archive.namelist() if n.startswith(prefix))
        index = archive.read(prefix + "index.html")
    assert packed == [p for p in built if (WEB / "dist" / p).is_file()], packed
    assert index == (WEB / "dist" / "index.html").read_bytes()
    # ... where an installed server looks for it before a checkout's web/dist.
    assert console.PACKAGED_BUILD.parts[-3:] == ("netwarden", "api", "static")
