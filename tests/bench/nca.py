"""Run network-config-analyzer (nca) and read its connectivity map back as data.

``nca --connectivity -r DIR -o txt_no_fw_rules --output_endpoints pods`` prints
one line per connected (source, destination) pair::

    ns-a/web-5d9c-abcde => ns-b/db-0 : {protocols:TCP,dst_ports:5432-5439}
    ns-a/web-5d9c-abcde => ns-c/api-7f-xyz : All connections

Pairs without a line have no connection. nca keeps at most two pods of each
equivalence group (same namespace, same workload, same labels; see
nca/NetworkConfig/TopologyObjectsFinder.py ``_add_peer``): every other pod of the
group behaves like them, so the answer for any pod pair is read from the
group representatives. ``Representatives`` replays that grouping.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

PROTOCOLS = ("TCP", "UDP", "SCTP")
_MAX_PORT = 65535
_ALL_PROTOCOLS = frozenset(PROTOCOLS) | {"OTHER"}


def nca_executable() -> str | None:
    beside = Path(sys.executable).with_name("nca")
    if beside.exists():
        return str(beside)
    return shutil.which("nca")


def nca_version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return (
        (out.stdout or out.stderr).strip().splitlines()[-1] if (out.stdout or out.stderr) else "?"
    )


@dataclass
class NcaRun:
    command: list[str]
    wall_s: float
    cpu_s: float
    reported_s: float | None  # nca's own "Total run time"
    returncode: int
    timed_out: bool
    pairs: dict[tuple[str, str], str] = field(default_factory=dict)
    warnings: int = 0


def run_connectivity(exe: str, directory: Path, timeout_s: float) -> NcaRun:
    """Run the connectivity query on every manifest in ``directory``."""
    cmd = [
        exe,
        "--connectivity",
        "-r",
        str(directory),
        "-o",
        "txt_no_fw_rules",
        "--output_endpoints",
        "pods",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, check=False, env=os.environ
        )
    except subprocess.TimeoutExpired:
        wall = time.perf_counter() - start
        return NcaRun(cmd, wall, _child_cpu(before), None, -1, True)
    wall = time.perf_counter() - start
    run = NcaRun(cmd, wall, _child_cpu(before), None, proc.returncode, False)
    for line in proc.stdout.splitlines():
        if " => " in line:
            left, _, conn = line.partition(" : ")
            src, _, dst = left.partition(" => ")
            run.pairs[(src.strip(), dst.strip())] = conn.strip()
        elif line.startswith("Total run time:"):
            run.reported_s = float(line.split(":")[1].split()[0])
        elif line.startswith("Warning"):
            run.warnings += 1
    return run


def _child_cpu(before: resource.struct_rusage) -> float:
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# ---- connection strings -------------------------------------------------------


Cube = tuple[frozenset[str], tuple[tuple[int, int], ...]]


@lru_cache(maxsize=4096)
def parse_connections(text: str) -> Callable[[str, int], bool]:
    """A predicate (protocol, port) -> allowed for one nca connection string.

    Understands "All connections", "No connections", "{protocols:..,dst_ports:..},{..}"
    and "All but {..}". Other dimensions (src_ports, HTTP methods) raise ValueError:
    they do not occur for NetworkPolicy-only inputs.
    """
    text = text.strip()
    if text == "All connections":
        return lambda proto, port: True
    if text in ("No connections", ""):
        return lambda proto, port: False
    negate = text.startswith("All but ")
    if negate:
        text = text[len("All but ") :]
    cubes = [_parse_cube(body) for body in re.findall(r"\{([^}]*)\}", text)]
    if not cubes:
        raise ValueError(f"cannot read nca connections {text!r}")

    def allowed(proto: str, port: int) -> bool:
        hit = any(
            proto in protos and any(lo <= port <= hi for lo, hi in ranges)
            for protos, ranges in cubes
        )
        return hit != negate

    return allowed


def _parse_cube(body: str) -> Cube:
    protos: frozenset[str] = _ALL_PROTOCOLS
    ranges: tuple[tuple[int, int], ...] = ((0, _MAX_PORT),)
    for part in re.split(r",(?=[a-z_]+:)", body):
        key, _, value = part.partition(":")
        key = key.strip()
        if key == "protocols":
            protos = frozenset(p.strip().upper() for p in value.split(",") if p.strip())
        elif key == "dst_ports":
            out = []
            for item in value.split(","):
                lo, _, hi = item.strip().partition("-")
                out.append((int(lo), int(hi or lo)))
            ranges = tuple(out)
        else:
            raise ValueError(f"nca connection dimension {key!r} is not supported here")
    return protos, ranges


# ---- nca's pod grouping -------------------------------------------------------


def workload_name(pod: dict[str, Any]) -> str:
    """nca's Pod.workload_name (CoreDS/Peer.py)."""
    meta = pod["metadata"]
    ns = meta.get("namespace", "default")
    owners = meta.get("ownerReferences") or []
    if not owners:
        return f"{ns}/{meta['name']}(Pod)"
    owner, kind = owners[0].get("name", ""), owners[0].get("kind", "")
    if kind == "ReplicaSet":
        suffix = owner[owner.rfind("-") + 1 :]
        if all(c in string.hexdigits for c in suffix):
            return f"{ns}/{owner[: owner.rfind('-')]}(Deployment-StatefulSet)"
        return f"{ns}/{owner}(ReplicaSet)"
    return f"{ns}/{owner}({kind})"


class Representatives:
    """Which of nca's kept pods answers for each pod, in input order."""

    def __init__(self, pods: Iterable[dict[str, Any]]) -> None:
        self.names: list[str] = []
        self.group: list[int] = []
        self.reps: list[list[str]] = []  # per group: the first two pod names
        groups: dict[str, int] = {}
        for pod in pods:
            meta = pod["metadata"]
            name = f"{meta.get('namespace', 'default')}/{meta['name']}"
            labels = sorted((meta.get("labels") or {}).items())
            key = f"{meta.get('namespace', 'default')}_{workload_name(pod)}_{labels}"
            gid = groups.setdefault(key, len(groups))
            if gid == len(self.reps):
                self.reps.append([])
            if len(self.reps[gid]) < 2:
                self.reps[gid].append(name)
            self.names.append(name)
            self.group.append(gid)

    @property
    def kept(self) -> set[str]:
        return {n for reps in self.reps for n in reps}

    def matrix(
        self, pairs: dict[tuple[str, str], str], proto: str, port: int
    ) -> npt.NDArray[np.bool_]:
        """nca's answer for every ordered pod pair (in input order), diagonal False."""
        n_groups = len(self.reps)
        cross = np.zeros((n_groups, n_groups), dtype=bool)
        inner = np.zeros(n_groups, dtype=bool)
        first = [reps[0] for reps in self.reps]
        index = {name: g for g, name in enumerate(first)}
        second = {reps[1]: g for g, reps in enumerate(self.reps) if len(reps) > 1}
        for (src, dst), conn in pairs.items():
            if not parse_connections(conn)(proto, port):
                continue
            gs, gd = index.get(src), index.get(dst)
            if gs is not None and gd is not None:
                cross[gs, gd] = True
            elif gs is not None and second.get(dst) == gs:
                inner[gs] = True
        gid = np.asarray(self.group)
        out = cross[gid[:, None], gid[None, :]]
        same = gid[:, None] == gid[None, :]
        out = np.where(same, inner[gid][:, None], out)
        np.fill_diagonal(out, False)
        return out
