"""The same connectivity question answered by netwarden and by network-config-analyzer.

Question: the full connectivity map, i.e. for every ordered pair of distinct pods,
which ports and protocols are allowed. Input: the same generated cluster with a
NetworkPolicy-only policy set (nca reads Kubernetes NetworkPolicy, not Cilium or
admin policies), written to a directory both tools read.

nca answers it with ``--connectivity`` (its own "Total run time" is used, which
leaves out its interpreter start-up). netwarden answers it with
``connectivity_map(engine, pods)``, end to end from the same files:
``load_inputs(dir)`` + World/CompiledEngine + ``connectivity_map``; "warm" is
``connectivity_map`` again on the same engine.

Both tools run at several sizes (policies = pods / 5) so the growth of the
speedup shows; a size is skipped when nca's time, estimated by a power law
fitted to its measured runs, exceeds the budget. The 100x target is judged at
the largest size nca ran. Agreement is checked at every measured size: on six
ports for every pod pair (read off both maps), and on the whole port set of
every pair of pods nca kept.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.connectivity import ConnectivityMap, PortSet, connectivity_map
from netwarden.engine.world import World
from netwarden.model.endpoint import Endpoint
from netwarden.model.ports import Protocol
from netwarden.sources.loader import load_inputs
from tests.bench.generate import Cluster, generate
from tests.bench.nca import (
    PROTOCOLS,
    NcaRun,
    Representatives,
    nca_executable,
    nca_version,
    parse_connections,
    run_connectivity,
)
from tests.bench.report import Grid, Table, Timing, fmt_n, fmt_s, timed

# Ports whose per-pod-pair answers are compared (and the old 6-port question).
NCA_PORTS = ((80, "TCP"), (443, "TCP"), (5432, "TCP"), (8080, "TCP"), (9090, "TCP"), (53, "UDP"))
_PROTO_INDEX = {"TCP": 0, "UDP": 1, "SCTP": 2}
_MAX_PORT = 65535
QUESTION = (
    "full connectivity map: allowed ports and protocols of every ordered pair of distinct pods"
)
SCALING_HEADER = (
    "pods",
    "NPs",
    "nca",
    "nca cpu",
    "netwarden",
    "= load",
    "+ engine",
    "+ map",
    "nw cpu",
    "warm map",
    "speedup",
    "cpu",
    "agree 6 ports",
    "agree full map",
    "note",
)


@dataclass(frozen=True)
class NcaPlan:
    # Sizes (pods, policies) at which both tools answer the question, smallest first.
    sizes: tuple[tuple[int, int], ...] = ((500, 100), (1000, 200), (2000, 400), (4000, 800))
    big: tuple[int, int] = (10_000, 2_000)  # netwarden only; nca's time there is estimated
    budget_s: float = 300.0  # a size is run only if nca is expected to finish in this
    timeout_s: float = 420.0
    reference_pods: int = 1000  # the speedup is also shown at this size
    agreement_max_pods: int = 4000  # above it, the 6-port check uses a sample of pods

    @staticmethod
    def for_pods(pods: list[int], **kwargs: Any) -> NcaPlan:
        return NcaPlan(sizes=tuple((p, p // 5) for p in sorted(pods)), **kwargs)


@dataclass
class NetwardenAnswer:
    cmap: ConnectivityMap
    load: Timing
    engine_init: Timing
    query: Timing  # connectivity_map on a fresh engine (tables built on demand)
    warm_query: Timing | None  # the same again with every table built
    engine: CompiledEngine
    pods: list[Endpoint]

    @property
    def cold_s(self) -> float:
        return self.load.wall_s + self.engine_init.wall_s + self.query.wall_s

    @property
    def cold_cpu_s(self) -> float:
        return self.load.cpu_s + self.engine_init.cpu_s + self.query.cpu_s

    def port_matrix(
        self, port: int, proto: str, idx: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[np.bool_]:
        """Allowed[i, j] at one port, read off the map (for the pods ``idx``, default all)."""
        cmap = self.cmap
        ok = np.array([s.allows(port, _PROTO_INDEX[proto]) for s in cmap.sets], dtype=bool)
        cls = cmap.class_of if idx is None else cmap.class_of[idx]
        m: npt.NDArray[np.bool_] = ok[cmap.pair_set][cls][:, cls]
        np.fill_diagonal(m, True)  # a pod reaching itself
        return m


def netwarden_answer(directory: Path, names: list[str], warm: bool = True) -> NetwardenAnswer:
    """The full connectivity map of the pods ``names`` (in that order), from the files."""
    inp, t_load = timed(lambda: load_inputs([str(directory)]))
    if inp.errors:
        raise AssertionError([str(d) for d in inp.errors[:5]])
    engine, t_init = timed(lambda: CompiledEngine(World(inp.clusters, inp.policies)))
    by_name = {f"{p.namespace}/{p.name}": p for p in engine.world.pods()}
    pods = [by_name[n] for n in names]
    cmap, t_query = timed(lambda: connectivity_map(engine, pods))
    if cmap.names != tuple(names):
        raise AssertionError("connectivity_map left out pods (host-networked?)")
    t_warm = None
    if warm:
        again, t_warm = timed(lambda: connectivity_map(engine, pods))
        index = {s: i for i, s in enumerate(cmap.sets)}
        remap = np.array([index.get(s, -1) for s in again.sets], dtype=np.int64)
        same = np.array_equal(again.class_of, cmap.class_of) and np.array_equal(
            remap[again.pair_set], cmap.pair_set
        )
        if not same:
            raise AssertionError("the warm connectivity map differs from the cold one")
    return NetwardenAnswer(cmap, t_load, t_init, t_query, t_warm, engine, pods)


def _nca_seconds(run: NcaRun) -> float:
    return run.reported_s if run.reported_s is not None else run.wall_s


@dataclass
class Measured:
    """One size where both tools answered."""

    cluster: Cluster
    reps: Representatives
    run: NcaRun
    nw: NetwardenAnswer
    agreement: dict[str, Any]
    full_map: dict[str, Any]

    @property
    def pods(self) -> int:
        return len(self.reps.names)

    @property
    def nca_s(self) -> float:
        return _nca_seconds(self.run)

    @property
    def speedup(self) -> float:
        return self.nca_s / self.nw.cold_s

    @property
    def speedup_cpu(self) -> float:
        return self.run.cpu_s / max(self.nw.cold_cpu_s, 1e-9)

    @property
    def speedup_warm(self) -> float:
        warm = self.nw.warm_query
        return self.nca_s / warm.wall_s if warm is not None else float("nan")

    def to_json(self) -> dict[str, Any]:
        nw = self.nw
        return {
            "pods": self.pods,
            "policies": len(self.cluster.policies),
            "nca": {
                "seconds": self.nca_s,
                "wall_s": self.run.wall_s,
                "cpu_s": self.run.cpu_s,
                "representatives": len(self.reps.kept),
                "groups": len(self.reps.reps),
                "connected_pairs": len(self.run.pairs),
            },
            "netwarden": {
                "load": nw.load,
                "engine_init": nw.engine_init,
                "connectivity_map": nw.query,
                "end_to_end_s": nw.cold_s,
                "end_to_end_cpu_s": nw.cold_cpu_s,
                "warm_connectivity_map": nw.warm_query,
                "classes": int(nw.cmap.pair_set.shape[0]),
                "distinct_port_sets": len(nw.cmap.sets),
            },
            "speedup_end_to_end": self.speedup,
            "speedup_end_to_end_cpu": self.speedup_cpu,
            "speedup_warm": self.speedup_warm,
            "agreement_6_ports_percent": self.agreement["percent"],
            "agreement_6_ports_sampled_pods": self.agreement["sampled_pods"],
            "agreement_full_map_percent": self.full_map["percent"],
        }


def bench_nca(plan: NcaPlan, seed: int, table: Table, grid: Grid) -> dict[str, Any]:
    exe = nca_executable()
    if exe is None:
        table.add("nca", "network-config-analyzer", "not found", "", "skipped")
        return {"skipped": "nca executable not found"}
    result: dict[str, Any] = {
        "nca_version": nca_version(exe),
        "question": QUESTION,
        "budget_s": plan.budget_s,
        "agreement_ports": list(NCA_PORTS),
    }
    per_size: list[dict[str, Any]] = []
    runs: dict[int, float] = {}
    measured: list[Measured] = []
    largest: Measured | None = None
    with tempfile.TemporaryDirectory(prefix="netwarden-bench-") as tmp:
        root = Path(tmp)
        stop = ""
        for pods, policies in plan.sizes:
            fit = _estimate(runs, pods)
            if stop or (fit is not None and fit[0] > plan.budget_s):
                why = stop or (
                    f"not run: nca estimated ~{fmt_s(fit[0]) if fit else '?'}"
                    f" > {fmt_s(plan.budget_s)} budget"
                )
                grid.add(f"{pods:,}", f"{policies:,}", *["-"] * 12, why)
                per_size.append(
                    {"pods": pods, "policies": policies, "skipped": why}
                    | ({"nca_estimate_s": fit[0]} if fit else {})
                )
                continue
            size = _measure(exe, seed, pods, policies, root, plan)
            if isinstance(size, str):
                stop = f"not run: nca failed at a smaller size ({size})"
                grid.add(f"{pods:,}", f"{policies:,}", *["-"] * 12, size)
                per_size.append({"pods": pods, "policies": policies, "failed": size})
                continue
            runs[pods] = size.nca_s
            _grid_row(grid, size)
            per_size.append(size.to_json())
            largest = size
            measured.append(size)
        result["sizes"] = per_size
        result["nca_seconds_by_pods"] = runs
        if largest is None:
            table.add("nca", "nca --connectivity", "failed", "", "at every size")
            result["error"] = "nca timed out or failed"
            return result
        fit = _estimate(runs, plan.big[0])
        result["nca_time_exponent"] = fit[1] if fit is not None else None
        reference = next((m for m in measured if m.pods == plan.reference_pods), None)
        _report(plan, largest, reference, runs, fit, table, result)
        if fit is not None and plan.big[0] > largest.pods:
            result["big"] = _netwarden_big(plan, seed, root, fit[0], table)
    return result


def _measure(
    exe: str, seed: int, pods: int, policies: int, root: Path, plan: NcaPlan
) -> Measured | str:
    """Both tools at one size; a reason string if nca did not finish."""
    cluster = generate(pods, policies, seed, np_only=True)
    directory = cluster.write_dir(root / f"np-{pods}")
    run = run_connectivity(exe, directory, plan.timeout_s)
    if run.timed_out:
        return f"nca timed out after {fmt_s(plan.timeout_s)}"
    if run.returncode != 0:
        return f"nca exited with {run.returncode}"
    reps = Representatives(cluster.pods)
    nw = netwarden_answer(directory, reps.names)
    agreement = _agreement(nw, reps, run, plan.agreement_max_pods, seed)
    full_map = _full_map_agreement(nw, reps, run)
    return Measured(cluster, reps, run, nw, agreement, full_map)


def _grid_row(grid: Grid, m: Measured) -> None:
    nw = m.nw
    agree = m.agreement
    sample = f" (sample of {agree['sampled_pods']:,} pods)" if agree["sampled_pods"] else ""
    k = int(nw.cmap.pair_set.shape[0])
    grid.add(
        f"{m.pods:,}",
        f"{len(m.cluster.policies):,}",
        fmt_s(m.nca_s),
        fmt_s(m.run.cpu_s),
        fmt_s(nw.cold_s),
        fmt_s(nw.load.wall_s),
        fmt_s(nw.engine_init.wall_s),
        fmt_s(nw.query.wall_s),
        fmt_s(nw.cold_cpu_s),
        fmt_s(nw.warm_query.wall_s if nw.warm_query else None),
        f"{m.speedup:.1f}x",
        f"{m.speedup_cpu:.1f}x",
        f"{agree['percent']:.3f}%",
        f"{m.full_map['percent']:.3f}%",
        f"{k:,} classes, {len(nw.cmap.sets)} port sets{sample}",
    )


def _estimate(runs: dict[int, float], pods: int) -> tuple[float, float] | None:
    """nca's time at ``pods``: a power law t = c * pods^k fitted to the runs, in log-log.

    Extrapolated from the largest run; returns (seconds, k).
    """
    if len(runs) < 2:
        return None
    xs = np.log(np.array(sorted(runs), dtype=float))
    ys = np.log(np.array([max(runs[n], 1e-3) for n in sorted(runs)]))
    k = float(np.polyfit(xs, ys, 1)[0])
    n_max = max(runs)
    return runs[n_max] * (pods / n_max) ** max(k, 1.0), k


def _netwarden_big(
    plan: NcaPlan, seed: int, root: Path, estimate: float, table: Table
) -> dict[str, Any]:
    """netwarden alone on the big size; nca's time there is an extrapolation, not a run."""
    cluster = generate(*plan.big, seed, np_only=True)
    directory = cluster.write_dir(root / f"np-{plan.big[0]}")
    names = Representatives(cluster.pods).names
    nw = netwarden_answer(directory, names, warm=False)
    n = len(names)
    k = int(nw.cmap.pair_set.shape[0])
    table.add(
        "ESTIMATE",
        f"netwarden, full map of {n:,} pods / {plan.big[1]:,} NPs (measured)",
        fmt_s(nw.cold_s),
        fmt_s(nw.cold_cpu_s),
        f"end to end: load {fmt_s(nw.load.wall_s)}, engine {fmt_s(nw.engine_init.wall_s)},"
        f" map {fmt_s(nw.query.wall_s)} ({k:,} classes, {len(nw.cmap.sets)} port sets)",
    )
    table.add(
        "ESTIMATE",
        f"nca at {n:,} pods: NOT RUN, extrapolated",
        f"~{fmt_s(estimate)}",
        "",
        f"power-law fit of nca's measured runs; nca / netwarden ~{estimate / nw.cold_s:.0f}x"
        " is an estimate, not a result",
    )
    return {
        "pods": n,
        "policies": plan.big[1],
        "load": nw.load,
        "engine_init": nw.engine_init,
        "connectivity_map": nw.query,
        "end_to_end_s": nw.cold_s,
        "classes": k,
        "distinct_port_sets": len(nw.cmap.sets),
        "nca_estimate_s": estimate,
        "nca_estimate_is_extrapolated": True,
        "speedup_vs_estimate": estimate / nw.cold_s,
    }


def _six_ports(m: Measured) -> tuple[list[npt.NDArray[np.bool_]], Timing, bool, Timing]:
    """The 6-port question with engine.matrix on the warm engine; checked against the map."""
    nw = m.nw

    def ask() -> list[npt.NDArray[np.bool_]]:
        return [nw.engine.matrix(nw.pods, port, Protocol(proto)) for port, proto in NCA_PORTS]

    answers, t = timed(ask)
    from_map, t_derive = timed(lambda: [nw.port_matrix(port, proto) for port, proto in NCA_PORTS])
    same = all(np.array_equal(a, b) for a, b in zip(answers, from_map, strict=True))
    return answers, t, same, t_derive


def _report(
    plan: NcaPlan,
    m: Measured,
    reference: Measured | None,
    runs: dict[int, float],
    fit: tuple[float, float] | None,
    table: Table,
    result: dict[str, Any],
) -> None:
    nw, run, reps = m.nw, m.run, m.reps
    n = m.pods
    k = int(nw.cmap.pair_set.shape[0])
    pod_names = {name for pair in run.pairs for name in pair if "/" in name and name[0].isalpha()}
    livesim = {name for name in pod_names if name.endswith("-livesim")}
    unknown = pod_names - reps.kept - livesim
    size_note = _size_note(plan, m, runs, fit)
    table.add("question", QUESTION, "", "", "NetworkPolicy-only variant of the generated cluster")
    table.add("", f"details at {n:,} pods / {len(m.cluster.policies):,} NPs", "", "", size_note)
    table.add(
        "nca",
        f"nca {result['nca_version']} --connectivity -o txt_no_fw_rules",
        fmt_s(m.nca_s),
        fmt_s(run.cpu_s),
        f"nca's own total; process wall {fmt_s(run.wall_s)}; {len(reps.kept)} pods kept as "
        f"representatives of {len(reps.reps)} groups; {len(run.pairs):,} connected pairs"
        + (f"; {len(unknown)} unexpected names" if unknown else "")
        + (f"; nca added {', '.join(sorted(livesim))}" if livesim else ""),
    )
    table.add_timing("netwarden", "load_inputs(dir)", nw.load)
    table.add_timing("", "World + CompiledEngine", nw.engine_init)
    table.add_timing(
        "",
        "connectivity_map(engine, pods) (tables built on demand)",
        nw.query,
        f"{k:,} endpoint classes ({fmt_n(k * k)} class pairs), {len(nw.cmap.sets)} distinct"
        " port sets",
    )
    table.add("", "end to end (files -> full map)", fmt_s(nw.cold_s), fmt_s(nw.cold_cpu_s))
    assert nw.warm_query is not None
    table.add_timing("", "warm connectivity_map (every table built)", nw.warm_query)
    answers, t_six, six_same, t_derive = _six_ports(m)
    table.add_timing(
        "",
        f"per-port matrices read off the map ({len(NCA_PORTS)} ports; not in the above)",
        t_derive,
        f"{fmt_n(n * n * len(NCA_PORTS))} answers",
    )
    ports_text = ",".join(f"{p}/{proto}" for p, proto in NCA_PORTS)
    table.add_timing(
        "6 ports only",
        f"engine.matrix x {len(NCA_PORTS)} ({ports_text}), warm engine",
        t_six,
        f"{'ok' if six_same else 'CHECK FAILED'}: same answers as the map; informational, a"
        " smaller question than nca's",
    )
    del answers
    _agreement_rows(table, m.agreement, m.full_map, n)
    table.add(
        "speedup",
        f"nca / netwarden end to end at {n:,} pods (largest size nca ran)",
        f"{m.speedup:.1f}x",
        f"{m.speedup_cpu:.1f}x",
        f"target >= 100x; at sizes {', '.join(f'{p:,}' for p in sorted(runs))}: "
        + ", ".join(f"{runs[p] / _e2e(result, p):.1f}x" for p in sorted(runs)),
    )
    table.add("", f"nca / netwarden warm map at {n:,} pods", f"{m.speedup_warm:.1f}x", "", "")
    if reference is not None and reference is not m:
        table.add(
            "",
            f"nca / netwarden end to end at {reference.pods:,} pods",
            f"{reference.speedup:.1f}x",
            f"{reference.speedup_cpu:.1f}x",
            f"warm map {reference.speedup_warm:.1f}x",
        )
    result.update(
        {
            "pods": n,
            "policies": len(m.cluster.policies),
            "judged_at_largest_measured_size": True,
            "size_note": size_note,
            "nca": m.to_json()["nca"] | {"unexpected_names": len(unknown)},
            "netwarden": m.to_json()["netwarden"],
            "six_ports_engine_matrix": {
                "ports": list(NCA_PORTS),
                "warm": t_six,
                "same_as_map": six_same,
                "derive_from_map": t_derive,
            },
            "agreement": m.agreement,
            "agreement_full_map": m.full_map,
            "speedup_end_to_end": m.speedup,
            "speedup_end_to_end_cpu": m.speedup_cpu,
            "speedup_warm": m.speedup_warm,
            "reference": None
            if reference is None
            else {
                "pods": reference.pods,
                "speedup_end_to_end": reference.speedup,
                "speedup_end_to_end_cpu": reference.speedup_cpu,
                "speedup_warm": reference.speedup_warm,
            },
        }
    )


def _e2e(result: dict[str, Any], pods: int) -> float:
    size = next(s for s in result["sizes"] if s["pods"] == pods)
    return float(size["netwarden"]["end_to_end_s"])


def _size_note(
    plan: NcaPlan, m: Measured, runs: dict[int, float], fit: tuple[float, float] | None
) -> str:
    measured = ", ".join(f"{p:,} pods {fmt_s(t)}" for p, t in sorted(runs.items()))
    note = f"nca measured at {measured}"
    if fit is not None:
        note += f"; time ~ pods^{fit[1]:.2f}"
    skipped = [p for p, _ in plan.sizes if p not in runs]
    if skipped:
        note += f"; not run: {', '.join(f'{p:,}' for p in skipped)} pods (see the scaling table)"
    return note


def _agreement(
    nw: NetwardenAnswer, reps: Representatives, run: NcaRun, max_pods: int, seed: int
) -> dict[str, Any]:
    """Per pod pair at each of NCA_PORTS (a random sample of pods above ``max_pods``)."""
    n_all = len(reps.names)
    idx: npt.NDArray[np.int64] | None = None
    if n_all > max_pods:
        pick = np.random.default_rng(seed).choice(n_all, max_pods, replace=False)
        idx = np.sort(pick).astype(np.int64)
    n = n_all if idx is None else len(idx)
    off_diag = ~np.eye(n, dtype=bool)
    total = agree = 0
    per_port: dict[str, float] = {}
    buckets: Counter[tuple[str, str, str]] = Counter()
    examples: list[str] = []
    for k, (port, proto) in enumerate(NCA_PORTS):
        theirs = reps.matrix(run.pairs, proto, port)
        if idx is not None:
            theirs = theirs[idx][:, idx]
        ours = nw.port_matrix(port, proto, idx)
        same = (theirs == ours) | ~off_diag
        n_same = int(same.sum()) - n
        total += n * (n - 1)
        agree += n_same
        per_port[f"{port}/{proto}"] = 100.0 * n_same / (n * (n - 1))
        rows, cols = np.nonzero(~same)
        if len(rows) > 5000:  # explain a sample; the count above is exact
            pick = np.random.default_rng(k).choice(len(rows), 5000, replace=False)
            rows, cols = rows[pick], cols[pick]
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i, j = (r, c) if idx is None else (int(idx[r]), int(idx[c]))
            v = nw.engine.verdict(nw.pods[i], nw.pods[j], port, Protocol(proto))
            why = f"egress {v.egress.reason.value}, ingress {v.ingress.reason.value}"
            side = "netwarden allow" if ours[r, c] else "nca allow"
            buckets[(f"{port}/{proto}", side, why)] += 1
            if len(examples) < 6:
                examples.append(_explain(nw, reps, run, i, j, port, proto, bool(ours[r, c])))
    return {
        "answers": total,
        "equal": agree,
        "percent": 100.0 * agree / total,
        "sampled_pods": 0 if idx is None else n,
        "per_port_percent": per_port,
        "disagreement_buckets": [
            {"port": p, "side": s, "netwarden_reason": w, "count": c}
            for (p, s, w), c in buckets.most_common(10)
        ],
        "examples": examples,
    }


def same_ports(conn: str, ports: PortSet) -> bool:
    """Whether nca's connection string and a netwarden PortSet allow the same connections.

    Compared on ports 1-65535 of TCP, UDP and SCTP (nca has no port 0) and on other
    protocols. Both are constant between the numbers either one mentions.
    """
    allowed = parse_connections(conn)
    points = {1, _MAX_PORT}
    for x in re.findall(r"\d+", conn):
        points.update((int(x), int(x) + 1))
    for ranges in ports.ranges:
        for a, b in ranges:
            points.update((a, b + 1))
    checked = sorted(p for p in points if 1 <= p <= _MAX_PORT)
    for pi, proto in enumerate(PROTOCOLS):
        if any(allowed(proto, p) != ports.allows(p, pi) for p in checked):
            return False
    return allowed("OTHER", 1) == ports.other


def _full_map_agreement(nw: NetwardenAnswer, reps: Representatives, run: NcaRun) -> dict[str, Any]:
    """The whole port set of every ordered pair of the pods nca kept (exact, no sample)."""
    index = {name: i for i, name in enumerate(reps.names)}
    kept = sorted(index[name] for name in reps.kept)
    pos = {reps.names[i]: p for p, i in enumerate(kept)}
    cls = nw.cmap.class_of[np.asarray(kept, dtype=np.int64)]
    set_of = nw.cmap.pair_set[cls][:, cls]  # [a, b] -> index into sets
    listed = np.zeros(set_of.shape, dtype=bool)
    combos: Counter[tuple[str, int]] = Counter()
    where: dict[tuple[str, int], tuple[int, int]] = {}
    for (a, b), conn in run.pairs.items():
        pa, pb = pos.get(a), pos.get(b)
        if pa is None or pb is None or pa == pb:
            continue
        listed[pa, pb] = True
        key = (conn, int(set_of[pa, pb]))
        combos[key] += 1
        where.setdefault(key, (pa, pb))
    sets = nw.cmap.sets
    empty = np.array([s.empty for s in sets], dtype=bool)
    n = len(kept)
    silent = ~listed & ~np.eye(n, dtype=bool) & ~empty[set_of]  # nca: no connections
    n_silent = int(silent.sum())
    wrong = {key: c for key, c in combos.items() if not same_ports(key[0], sets[key[1]])}
    total = n * (n - 1)
    equal = total - n_silent - sum(wrong.values())
    examples = []
    for (conn, si), c in sorted(wrong.items(), key=lambda kv: -kv[1])[:3]:
        pa, pb = where[(conn, si)]
        examples.append(
            f"{c:,} pairs like {reps.names[kept[pa]]} -> {reps.names[kept[pb]]}: nca {conn};"
            f" netwarden {sets[si].describe()}"
        )
    for pa, pb in np.argwhere(silent)[:2].tolist():
        si = int(set_of[pa, pb])
        examples.append(
            f"{reps.names[kept[pa]]} -> {reps.names[kept[pb]]}: nca No connections;"
            f" netwarden {sets[si].describe()}"
        )
    return {
        "pairs": total,
        "equal": equal,
        "percent": 100.0 * equal / total if total else 100.0,
        "nca_none_netwarden_some": n_silent,
        "different_port_sets": sum(wrong.values()),
        "distinct_answers_compared": len(combos),
        "examples": examples,
    }


def _agreement_rows(
    table: Table, agreement: dict[str, Any], full_map: dict[str, Any], n: int
) -> None:
    sample = agreement["sampled_pods"]
    scope = f"a sample of {sample:,} pods" if sample else f"all {n:,} pods"
    table.add(
        "agreement",
        f"netwarden vs nca, {len(NCA_PORTS)} ports, every pair of {scope}",
        f"{agreement['percent']:.3f}%",
        "",
        f"{fmt_n(agreement['equal'])} of {fmt_n(agreement['answers'])} pair x port answers equal",
    )
    worst = sorted(agreement["per_port_percent"].items(), key=lambda kv: kv[1])[:3]
    table.add("", "lowest per port", "", "", ", ".join(f"{p} {v:.3f}%" for p, v in worst))
    for b in agreement["disagreement_buckets"][:5]:
        table.add(
            "",
            f"  {b['count']:,} disagree at {b['port']}",
            "",
            "",
            f"{b['side']}; {b['netwarden_reason']}",
        )
    for line in agreement["examples"][:4]:
        table.add("", "  example", "", "", line)
    table.add(
        "",
        "full map: whole port set of every pair of nca's kept pods",
        f"{full_map['percent']:.3f}%",
        "",
        f"{fmt_n(full_map['equal'])} of {fmt_n(full_map['pairs'])} pairs equal"
        f" ({full_map['distinct_answers_compared']} distinct answers compared;"
        f" {fmt_n(full_map['different_port_sets'])} differ in ports,"
        f" {fmt_n(full_map['nca_none_netwarden_some'])} nca none / netwarden some)",
    )
    for line in full_map["examples"][:4]:
        table.add("", "  example", "", "", line)


def _explain(
    nw: NetwardenAnswer,
    reps: Representatives,
    run: NcaRun,
    i: int,
    j: int,
    port: int,
    proto: str,
    ours: bool,
) -> str:
    v = nw.engine.verdict(nw.pods[i], nw.pods[j], port, Protocol(proto))
    rules = [str(r) for r in (*v.egress.rules, *v.ingress.rules)][:3]
    gi, gj = reps.group[i], reps.group[j]
    a = reps.reps[gi][0]
    b = reps.reps[gj][1] if gi == gj and len(reps.reps[gj]) > 1 else reps.reps[gj][0]
    conn = run.pairs.get((a, b), "No connections")
    theirs = "allow" if parse_connections(conn)(proto, port) else "deny"
    return (
        f"{reps.names[i]} -> {reps.names[j]} {port}/{proto}: netwarden "
        f"{'allow' if ours else 'deny'} ({'; '.join(rules) or v.ingress.reason.value}); "
        f"nca {theirs} ({a} -> {b}: {conn})"
    )
