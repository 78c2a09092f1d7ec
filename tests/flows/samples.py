"""The real Hubble samples in ../shared/samples/hubble/ and their hand-checked counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from tests.conftest import shared_dir


class Expected(NamedTuple):
    """Counts per sample file, checked by hand against the raw JSON and the README."""

    lines: int
    l7: int
    l3_l4: int
    dropped_with_reason: dict[str, int]
    policy_verdicts: int


# The README's table gives the line counts and describes the contents; the other
# columns were counted with jq-style scripts over the raw files.
EXPECTED = {
    "cilium-docs-exporter-dropped.jsonl": Expected(
        2, 0, 0, {"INVALID_SOURCE_IP": 1, "POLICY_DENIED": 1}, 0
    ),
    "hubble-otel-basic-sample-10-flows.jsonl": Expected(10, 0, 10, {}, 0),
    "hubble-otel-basic-sample-5-dns-flows.jsonl": Expected(5, 5, 0, {}, 0),
    "hubble-otel-basic-sample-5-http-flows.jsonl": Expected(5, 5, 0, {}, 0),
    "hubble-otel-basic-sample-400-icmpv4-flows.jsonl": Expected(18, 0, 18, {}, 0),
    "hubble-otel-basic-sample-400-tcp-flows.jsonl": Expected(400, 65, 335, {}, 27),
}


def hubble_dir() -> Path:
    return shared_dir() / "samples" / "hubble"


def sample_path(name: str) -> Path:
    return hubble_dir() / name


def sample_lines(name: str) -> list[str]:
    return sample_path(name).read_text(encoding="utf-8").splitlines()


def sample_objects(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sample_lines(name)]
