from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """../shared beside the checkout (the steering repository's shared data)."""
    for base in (ROOT, *ROOT.parents):
        candidate = base / "shared"
        if (candidate / "semantics-examples").is_dir():
            return candidate
        candidate = base.parent / "shared"
        if (candidate / "semantics-examples").is_dir():
            return candidate
    pytest.skip("../shared is not available")
    raise AssertionError
