"""The connectivity matrix: every pod pair for a list of ports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.world import World
from netwarden.model.endpoint import Endpoint
from netwarden.model.ports import Protocol


@dataclass(frozen=True)
class Matrix:
    pods: tuple[str, ...]
    ports: tuple[tuple[int, Protocol], ...]
    # allowed[port_index][source_index][destination_index]
    allowed: tuple[tuple[tuple[bool, ...], ...], ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "pods": list(self.pods),
            "ports": [f"{p}/{proto.value}" for p, proto in self.ports],
            "matrix": {
                f"{p}/{proto.value}": {
                    src: {dst: self.allowed[k][i][j] for j, dst in enumerate(self.pods)}
                    for i, src in enumerate(self.pods)
                }
                for k, (p, proto) in enumerate(self.ports)
            },
        }

    def render(self) -> str:
        blocks = []
        width = max((len(p) for p in self.pods), default=4)
        for k, (port, proto) in enumerate(self.ports):
            lines = [f"{port}/{proto.value}  (rows: from, columns: to; . allowed, X denied)"]
            lines.append(" " * (width + 2) + " ".join(str(j % 10) for j in range(len(self.pods))))
            for i, src in enumerate(self.pods):
                cells = " ".join("." if ok else "X" for ok in self.allowed[k][i])
                lines.append(f"{src.ljust(width)}  {cells}")
            lines.append("columns: " + ", ".join(f"{j}={p}" for j, p in enumerate(self.pods)))
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


def connectivity_matrix(
    engine: CompiledEngine,
    world: World,
    ports: Iterable[tuple[int, Protocol]],
    namespaces: set[str] | None = None,
) -> Matrix:
    pods: list[Endpoint] = sorted(
        (p for p in world.pods() if namespaces is None or p.namespace in namespaces),
        key=lambda p: (p.cluster, p.namespace or "", p.name or ""),
    )
    port_list = tuple(ports)
    multi = len({p.cluster for p in pods}) > 1
    names = tuple((f"{p.cluster}:" if multi else "") + p.display() for p in pods)
    allowed = tuple(
        tuple(tuple(bool(x) for x in row) for row in engine.matrix(pods, port, proto).tolist())
        for port, proto in port_list
    )
    return Matrix(names, port_list, allowed)
