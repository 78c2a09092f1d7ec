"""What the agent remembers across restarts (``agent-state.json`` in the spool directory):
the cluster, the last desired generation it applied completely, and the per-object
results of that apply. A restarted agent that finds the server still at that generation
does not apply again (it checks drift at once instead); anything else is applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwarden.agent.spool import write_atomic

STATE_FILE = "agent-state.json"


@dataclass(frozen=True, slots=True)
class AgentState:
    cluster: str
    generation: int
    results: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "generation": self.generation, "results": self.results}


def load_state(directory: Path) -> AgentState | None:
    """The saved state, or None when there is none or it cannot be read (the agent then
    applies what the server says, which is always safe)."""
    path = directory / STATE_FILE
    try:
        doc = json.loads(path.read_text())
        return AgentState(
            cluster=str(doc["cluster"]),
            generation=int(doc["generation"]),
            results=[{str(k): str(v) for k, v in r.items()} for r in doc.get("results", [])],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_state(directory: Path, state: AgentState, *, fsync: bool = True) -> None:
    write_atomic(directory / STATE_FILE, json.dumps(state.to_json()).encode(), fsync=fsync)


def clear_state(directory: Path) -> None:
    (directory / STATE_FILE).unlink(missing_ok=True)
