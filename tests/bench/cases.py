"""Per-size benchmarks: cold compile, scalar and batch verdicts, incremental updates.

Every timed result is checked: compiled verdicts against the reference
evaluator, batch verdicts against scalar ones, updated engines against the
reference evaluator on the updated world.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.reference import ReferenceEvaluator
from netwarden.engine.world import World
from netwarden.model.endpoint import Endpoint, EndpointKind
from netwarden.model.labels import Labels
from netwarden.model.ports import Protocol
from netwarden.model.rule import NormalizedPolicy
from netwarden.sources.loader import PolicyInput, load_text
from tests.bench.generate import Cluster, dump_yaml, generate
from tests.bench.report import Table, Timing, check_note, fmt_n, fmt_rate, fmt_s, timed

IntArray = npt.NDArray[np.int64]
# Batch protocol indexes: 0 TCP, 1 UDP, 2 SCTP, 3 another protocol (ICMP here).
PROTOCOLS = (Protocol.TCP, Protocol.UDP, Protocol.SCTP, Protocol.ICMP)
PORT_POOL = (
    (80, 0), (443, 0), (8080, 0), (8000, 0), (5432, 0), (5435, 0), (3306, 0), (6379, 0),
    (9090, 0), (9092, 0), (50051, 0), (15672, 0), (22, 0), (6443, 0), (11211, 1), (53, 1),
    (53, 0), (8125, 1), (3868, 2),
)  # fmt: skip
EXTERNAL_IPS = (
    "203.0.113.7",
    "198.51.100.9",
    "198.51.100.200",
    "8.8.8.8",
    "169.254.169.254",
    "192.0.2.10",
    "172.18.0.2",  # the API server
)


@dataclass(frozen=True)
class Size:
    name: str
    pods: int
    policies: int
    scalar_verdicts: int = 20_000
    batch_verdicts: int = 1_000_000
    reference_checks: int = 300


@dataclass
class Loaded:
    cluster: Cluster
    inp: PolicyInput
    world: World
    engine: CompiledEngine
    endpoints: list[Endpoint]
    n_pods: int
    n_nodes: int
    text: str


@dataclass
class Queries:
    src: IntArray
    dst: IntArray
    ports: IntArray
    protos: IntArray

    def __len__(self) -> int:
        return len(self.src)

    def take(self, n: int) -> Queries:
        return Queries(self.src[:n], self.dst[:n], self.ports[:n], self.protos[:n])


def make_queries(rng: np.random.Generator, n: int, loaded: Loaded) -> Queries:
    """Random connections: 92% pods, 4% nodes, 4% outside addresses on each side."""
    n_pods, n_nodes = loaded.n_pods, loaded.n_nodes
    n_ext = len(loaded.endpoints) - n_pods - n_nodes

    def side() -> IntArray:
        r = rng.random(n)
        pods = rng.integers(0, n_pods, n)
        nodes = n_pods + rng.integers(0, n_nodes, n)
        ext = n_pods + n_nodes + rng.integers(0, n_ext, n)
        return np.where(r < 0.92, pods, np.where(r < 0.96, nodes, ext)).astype(np.int64)

    src, dst = side(), side()
    pool = np.array(PORT_POOL, dtype=np.int64)
    k = rng.integers(0, len(pool), n)
    from_pool = rng.random(n) < 0.75
    ports = np.where(from_pool, pool[k, 0], rng.integers(1, 65536, n))
    protos = np.where(from_pool, pool[k, 1], rng.choice(4, n, p=[0.8, 0.15, 0.04, 0.01]))
    return Queries(src, dst, ports.astype(np.int64), protos.astype(np.int64))


# ---- cold compile ---------------------------------------------------------------


def cold_compile(size: Size, seed: int, table: Table) -> tuple[Loaded, dict[str, Any]]:
    cluster, t_gen = timed(lambda: generate(size.pods, size.policies, seed))
    text, t_yaml = timed(cluster.yaml_text)
    counts = cluster.counts()
    inp, t_load = timed(lambda: load_text(text, f"bench-{size.name}.yaml"))
    world, t_world = timed(lambda: World(inp.clusters, inp.policies))
    engine, t_init = timed(lambda: CompiledEngine(world))
    n_tables, t_compile = timed(engine.compile_all)
    total = Timing(
        t_load.wall_s + t_world.wall_s + t_init.wall_s + t_compile.wall_s,
        t_load.cpu_s + t_world.cpu_s + t_init.cpu_s + t_compile.cpu_s,
    )
    pods = world.pods()
    nodes = [ep for ep in world.endpoints() if ep.kind is EndpointKind.HOST and ep not in pods]
    externals = [world.by_ip(ipaddress.ip_address(ip)) for ip in EXTERNAL_IPS]
    endpoints = [*pods, *nodes, *externals]
    loaded = Loaded(cluster, inp, world, engine, endpoints, len(pods), len(nodes), text)
    ok_inputs = (
        not inp.errors and len(pods) == counts["pods"] and len(inp.policies) == counts["policies"]
    )
    input_note = (
        f"{'ok' if ok_inputs else 'CHECK FAILED'}: read back {len(pods):,} pods,"
        f" {len(inp.policies):,} policies, {len(inp.errors)} errors"
    )
    kinds = ", ".join(
        f"{k.removeprefix('policies.')} {v}" for k, v in counts.items() if k.startswith("policies.")
    )
    table.note(
        f"cluster: {counts['pods']:,} pods in {counts['deployments']:,} workloads "
        f"({counts['distinct_pod_label_sets']:,} distinct label sets), "
        f"{counts['namespaces']} namespaces, {counts['nodes']} nodes; "
        f"{len(text) / 1e6:.1f} MB of YAML (generated in {fmt_s(t_gen.wall_s + t_yaml.wall_s)})"
    )
    table.note(f"policies: {kinds}")
    table.add_timing("cold compile", "load + parse (load_text)", t_load, input_note)
    table.add_timing("", "World(...)", t_world)
    table.add_timing(
        "", "CompiledEngine(world)", t_init, f"{len(engine.classes):,} endpoint classes"
    )
    table.add_timing("", "compile_all()", t_compile, f"{n_tables:,} tables")
    table.add_timing("", "total", total)
    result = {
        "cluster": counts,
        "yaml_bytes": len(text),
        "classes": len(engine.classes),
        "tables": n_tables,
        "load": t_load,
        "world": t_world,
        "engine_init": t_init,
        "compile_all": t_compile,
        "total": total,
        "inputs_ok": ok_inputs,
    }
    return loaded, result


# ---- checks ---------------------------------------------------------------------


def reference_mismatches(
    engine: CompiledEngine,
    world: World,
    pairs: Sequence[tuple[Endpoint, Endpoint, int, Protocol]],
) -> list[str]:
    ref = ReferenceEvaluator(world)
    bad = []
    for src, dst, port, proto in pairs:
        got = engine.verdict(src, dst, port, proto)
        want = ref.verdict(src, dst, port, proto)
        if (got.egress, got.ingress) != (want.egress, want.ingress):
            bad.append(
                f"{src.display()} -> {dst.display()} {port}/{proto.value}: compiled "
                f"{got.egress.reason.value}/{got.ingress.reason.value}, reference "
                f"{want.egress.reason.value}/{want.ingress.reason.value}"
            )
    return bad


def _pairs(loaded: Loaded, q: Queries) -> list[tuple[Endpoint, Endpoint, int, Protocol]]:
    eps = loaded.endpoints
    return [
        (eps[s], eps[d], p, PROTOCOLS[k])
        for s, d, p, k in zip(
            q.src.tolist(), q.dst.tolist(), q.ports.tolist(), q.protos.tolist(), strict=True
        )
    ]


# ---- verdicts -------------------------------------------------------------------


def touch_all_tables(engine: CompiledEngine, everyone: list[Endpoint], new: list[Endpoint]) -> int:
    """Ask every endpoint <-> every new endpoint once, so that every table has their rows."""
    eps = engine.classify([*everyone, *new])
    n, k = len(everyone), len(new)
    a = np.repeat(np.arange(n, dtype=np.int64), k)
    b = np.tile(np.arange(n, n + k, dtype=np.int64), n)
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    ports = np.full(len(src), 443, dtype=np.int64)
    protos = np.zeros(len(src), dtype=np.int64)
    engine.batch(eps, src, dst, ports, protos)
    return len(src)


def bench_first_use(loaded: Loaded, table: Table) -> dict[str, Any]:
    """Outside addresses are new endpoint classes: first use extends the tables."""
    externals = loaded.endpoints[loaded.n_pods + loaded.n_nodes :]
    everyone = loaded.endpoints[: loaded.n_pods + loaded.n_nodes]
    before = len(loaded.engine.classes)
    n, t = timed(lambda: touch_all_tables(loaded.engine, everyone, externals))
    added = len(loaded.engine.classes) - before
    table.add_timing(
        "first use",
        f"{len(externals)} outside addresses ({added} new classes): extend every table",
        t,
        f"batch of {fmt_n(n)} connections, all pods and nodes <-> them",
    )
    return {"outside_addresses": len(externals), "classes_added": added, "time": t}


def bench_scalar(
    loaded: Loaded, size: Size, rng: np.random.Generator, table: Table
) -> dict[str, Any]:
    q = make_queries(rng, size.scalar_verdicts, loaded)
    pairs = _pairs(loaded, q)
    bad = reference_mismatches(loaded.engine, loaded.world, pairs[: size.reference_checks])
    n_ref = min(size.reference_checks, len(pairs))
    verdict = loaded.engine.verdict

    def run() -> int:
        allowed = 0
        for src, dst, port, proto in pairs:
            allowed += verdict(src, dst, port, proto).allowed
        return allowed

    allowed, t = timed(run)
    rate = len(pairs) / t.wall_s
    table.add(
        "verdicts",
        f"scalar engine.verdict() x {fmt_n(len(pairs))}",
        fmt_rate(rate),
        fmt_s(t.cpu_s),
        check_note(n_ref - len(bad), n_ref, "equal to reference evaluator")
        + f"; {100 * allowed / len(pairs):.0f}% allowed",
    )
    for line in bad[:3]:
        table.add("", "  mismatch", "", "", line)
    return {
        "verdicts": len(pairs),
        "time": t,
        "per_s": rate,
        "reference_checked": n_ref,
        "reference_mismatches": len(bad),
        "mismatch_examples": bad[:5],
        "allowed_fraction": allowed / len(pairs),
    }


def _batch_mismatches(loaded: Loaded, result: Any, q: Queries, sample: IntArray) -> list[str]:
    engine = loaded.engine
    eps = loaded.endpoints
    bad = []
    for i in sample.tolist():
        src, dst = eps[int(q.src[i])], eps[int(q.dst[i])]
        port, proto = int(q.ports[i]), PROTOCOLS[int(q.protos[i])]
        scalar = engine.verdict(src, dst, port, proto)
        same = (
            bool(result.allowed[i]) == scalar.allowed
            and engine.outcome(int(result.egress[i])) == scalar.egress
            and engine.outcome(int(result.ingress[i])) == scalar.ingress
        )
        if not same:
            bad.append(f"{src.display()} -> {dst.display()} {port}/{proto.value}")
    return bad


def bench_batch(
    loaded: Loaded, size: Size, rng: np.random.Generator, table: Table
) -> dict[str, Any]:
    engine = loaded.engine
    eps, t_classify = timed(lambda: engine.classify(loaded.endpoints))
    q = make_queries(rng, size.batch_verdicts, loaded)
    first, t_first = timed(lambda: engine.batch(eps, q.src, q.dst, q.ports, q.protos))
    sample = rng.choice(len(q), size=min(2000, len(q)), replace=False)
    bad = _batch_mismatches(loaded, first, q, sample)
    runs = []
    for _ in range(3):
        _, t = timed(lambda: engine.batch(eps, q.src, q.dst, q.ports, q.protos))
        runs.append(t)
    median = statistics.median(t.wall_s for t in runs)
    median_cpu = statistics.median(t.cpu_s for t in runs)
    rate = len(q) / median
    table.add_timing(
        "", f"engine.classify({fmt_n(len(loaded.endpoints))} endpoints)", t_classify, "once"
    )
    table.add(
        "",
        f"batch engine.batch() x {fmt_n(len(q))}",
        fmt_rate(rate),
        fmt_s(median_cpu),
        check_note(len(sample) - len(bad), len(sample), "equal to scalar verdict")
        + f"; median of 3 runs {fmt_s(median)}, best {fmt_s(min(t.wall_s for t in runs))},"
        f" first run {fmt_s(t_first.wall_s)}; {100 * float(first.allowed.mean()):.0f}% allowed",
    )
    for line in bad[:3]:
        table.add("", "  mismatch", "", "", line)
    return {
        "endpoints": len(loaded.endpoints),
        "classify": t_classify,
        "verdicts_per_run": len(q),
        "runs": runs,
        "first_run": t_first,
        "median_s": median,
        "per_s": rate,
        "per_s_cpu": len(q) / median_cpu,
        "checked_against_scalar": len(sample),
        "mismatches": len(bad),
    }


# ---- incremental updates --------------------------------------------------------


def _parse_one(docs: list[dict[str, Any]]) -> PolicyInput:
    inp = load_text(dump_yaml(docs), "<update>")
    if inp.errors:
        raise AssertionError([str(d) for d in inp.errors])
    return inp


def _sample_pairs(
    loaded: Loaded, targets: list[Endpoint], rng: random.Random, n: int
) -> list[tuple[Endpoint, Endpoint, int, Protocol]]:
    """Half with a target as source, half as destination; ports from the pool."""
    out = []
    for i in range(n):
        target = rng.choice(targets)
        other = rng.choice(loaded.endpoints)
        port, k = rng.choice(PORT_POOL)
        pair = (target, other) if i % 2 else (other, target)
        out.append((*pair, port, PROTOCOLS[k]))
    return out


def _selected_pods(world: World, policy_doc: dict[str, Any]) -> list[Endpoint]:
    spec = policy_doc["spec"]
    labels = (spec.get("podSelector") or spec.get("endpointSelector") or {}).get("matchLabels", {})
    ns = policy_doc["metadata"]["namespace"]
    return [
        p
        for p in world.pods()
        if p.namespace == ns and all(p.labels.get(k) == v for k, v in labels.items())
    ]


def _policy(inp: PolicyInput) -> NormalizedPolicy:
    return inp.policies[0]


def bench_updates(
    loaded: Loaded, size: Size, seed: int, table: Table, full_recompile_after_cidr: bool
) -> dict[str, Any]:
    rng = random.Random(f"updates-{seed}-{size.name}")
    engine, cluster = loaded.engine, loaded.cluster
    out: dict[str, Any] = {}

    def check(targets: list[Endpoint], world: World, what: str) -> str:
        pairs = _sample_pairs(loaded, targets, rng, 60)
        bad = reference_mismatches(engine, world, pairs)
        return check_note(len(pairs) - len(bad), len(pairs), f"{what} equal to reference")

    # 1. One NetworkPolicy added (selectors only: the class partition is kept).
    doc = cluster.extra_policy(rng, "NetworkPolicy")
    inp, t_parse = timed(lambda: _parse_one([doc]))
    dropped, t_update = timed(lambda: engine.update_policies(add=[_policy(inp)]))
    _, t_rebuild = timed(engine.compile_all)
    targets = _selected_pods(engine.world, doc) or engine.world.pods()[:5]
    note = check(targets, engine.world, "verdicts of the selected pods")
    table.add_timing("incremental", "add NetworkPolicy: parse", t_parse)
    table.add_timing("", f"  update_policies() ({dropped} tables dropped)", t_update)
    table.add_timing("", "  rebuild dropped tables (compile_all)", t_rebuild, note)
    out["add_networkpolicy"] = {
        "parse": t_parse,
        "update_policies": t_update,
        "tables_dropped": dropped,
        "rebuild": t_rebuild,
        "check": note,
    }

    # 2. One pod added: same labels as its deployment, then a new identity (canary).
    for new_identity in (False, True):
        pod_doc, ns = cluster.extra_pod(rng, new_identity)
        inp, t_parse = timed(lambda pod_doc=pod_doc, ns=ns: _parse_one([ns.manifest(), pod_doc]))
        ep = next(iter(inp.clusters.values())).pods[0]
        peer = rng.choice(loaded.endpoints[: loaded.n_pods])

        def add_and_ask(ep: Endpoint = ep, peer: Endpoint = peer) -> tuple[int, bool, bool]:
            before = len(engine.classes)
            engine.add_endpoint(ep)
            out_v = engine.verdict(ep, peer, 8080, Protocol.TCP)
            in_v = engine.verdict(peer, ep, 8080, Protocol.TCP)
            return len(engine.classes) - before, out_v.allowed, in_v.allowed

        (new_classes, _, _), t_add = timed(add_and_ask)
        everyone = engine.world.pods()
        _, t_all = timed(lambda ep=ep, everyone=everyone: touch_all_tables(engine, everyone, [ep]))
        note = check([ep], engine.world, "verdicts of the new pod")
        label = "new identity (canary)" if new_identity else "existing identity"
        table.add_timing("", f"add pod, {label}: parse", t_parse)
        table.add_timing("", f"  add_endpoint() + 2 verdicts ({new_classes} classes added)", t_add)
        table.add_timing("", "  then every pod <-> it once (batch)", t_all, note)
        out[f"add_pod_{'new' if new_identity else 'existing'}_identity"] = {
            "parse": t_parse,
            "add_and_first_verdicts": t_add,
            "then_every_table": t_all,
            "classes_added": new_classes,
            "check": note,
        }

    # 3. A namespace's labels change (env -> prod): every pod in it changes identity.
    out["namespace_relabel"] = _relabel_namespace(loaded, rng, table, check)

    # 4. A Cilium policy with a CIDR peer: the class partition is rebuilt.
    doc = cluster.extra_policy(rng, "CiliumNetworkPolicy")
    inp, t_parse = timed(lambda: _parse_one([doc]))
    targets = _selected_pods(engine.world, doc) or engine.world.pods()[:5]
    peer = next(e for e in loaded.endpoints if e.kind is EndpointKind.WORLD)

    def update_and_ask() -> int:
        dropped = engine.update_policies(add=[_policy(inp)])
        engine.verdict(targets[0], peer, 443, Protocol.TCP)
        return dropped

    dropped, t_update = timed(update_and_ask)
    note = check(targets, engine.world, "verdicts of the selected pods")
    table.add_timing("", "add CNP with toCIDRSet: parse", t_parse)
    what = "all tables dropped" if dropped < 0 else f"{dropped} tables dropped"
    table.add_timing("", f"  update_policies() + first verdict ({what})", t_update, note)
    out["add_cnp_with_cidr"] = {
        "parse": t_parse,
        "update_and_first_verdict": t_update,
        "tables_dropped": dropped,
        "check": note,
    }
    if full_recompile_after_cidr:
        n, t = timed(engine.compile_all)
        table.add_timing("", f"  then compile_all() ({n:,} tables)", t)
        out["add_cnp_with_cidr"]["recompile_all"] = t
    else:
        table.add("", "  then compile_all()", "not run", "", "≈ the cold compile_all() above")
    return out


def _relabel_namespace(loaded: Loaded, rng: random.Random, table: Table, check: Any) -> Any:
    engine = loaded.engine
    world = engine.world
    candidates = [ns for ns in loaded.cluster.namespaces if not ns.system and ns.env != "prod"]
    ns = max(candidates or loaded.cluster.namespaces, key=lambda n: (n.env == "dev", n.name))
    name, inv = next(iter(world.clusters.items()))

    def relabel() -> World:
        labels = {**inv.namespaces[ns.name], "env": "prod"}
        pods = [
            dataclasses.replace(p, namespace_labels=Labels(labels)) if p.namespace == ns.name else p
            for p in inv.pods
        ]
        new_inv = dataclasses.replace(
            inv, namespaces={**inv.namespaces, ns.name: labels}, pods=pods
        )
        return World({**world.clusters, name: new_inv}, list(world.policies))

    new_world, t_build = timed(relabel)
    moved = [p for p in new_world.pods() if p.namespace == ns.name]
    peer = rng.choice(loaded.endpoints[: loaded.n_pods])

    def update_and_ask() -> int:
        if hasattr(engine, "update_world"):
            added = int(engine.update_world(new_world))
        else:  # older engines: register the relabelled pods one by one
            before = len(engine.classes)
            for p in moved:
                engine.add_endpoint(p)
            added = len(engine.classes) - before
        engine.verdict(moved[0], peer, 8080, Protocol.TCP)
        engine.verdict(peer, moved[0], 8080, Protocol.TCP)
        return added

    added, t_update = timed(update_and_ask)
    _, t_rebuild = timed(engine.compile_all)
    others = [p for p in new_world.pods() if p.namespace != ns.name]
    _, t_all = timed(lambda: touch_all_tables(engine, others, moved))
    note = check(moved, new_world, "verdicts of relabelled pods")
    how = "update_world()" if hasattr(engine, "update_world") else "add_endpoint() x pods"
    table.add_timing(
        "", f"namespace {ns.name} env={ns.env}->prod ({len(moved)} pods): new World", t_build
    )
    table.add_timing("", f"  {how} + 2 verdicts ({added} classes added)", t_update)
    table.add_timing("", "  build the new classes' tables (compile_all)", t_rebuild)
    table.add_timing("", "  then every other pod <-> them once (batch)", t_all, note)
    return {
        "namespace": ns.name,
        "pods": len(moved),
        "build_world": t_build,
        "update_and_first_verdicts": t_update,
        "classes_added": added,
        "compile_new_tables": t_rebuild,
        "then_every_table": t_all,
        "check": note,
    }
