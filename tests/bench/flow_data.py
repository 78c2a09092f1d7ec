"""Synthetic but realistic flows for the flow benchmark, made column at a time.

``FlowWorld`` is a fixed cluster (namespaces, workloads with pods, identities and labels,
edges between workloads on typical ports); ``batch`` draws flows over its edges as an
Arrow table of ``flow_columns.ARROW_SCHEMA``, ``raw`` included (the flow's JSON object, so
``query`` replays real flows), without a Python object per flow: 50 million flows take
minutes, not hours. About 5% of the flows are DROPPED (POLICY_DENIED), as the issue says.
``hubble_lines`` makes Hubble JSON lines for the decode benchmark from the real samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netwarden.flows.flow_columns import ARROW_SCHEMA
from netwarden.flows.flowencode import format_time
from netwarden.flows.store import NANOS_PER_DAY

PORTS = np.array([80, 443, 8080, 9090, 5432, 6379, 3306, 9092, 53, 8443])
DROP_RATE = 0.05


@dataclass(frozen=True)
class FlowWorld:
    """Workloads (index w) with their namespace, labels JSON and identity, and edges."""

    cluster: str
    namespaces: list[str]
    workloads: list[str]
    workload_ns: Any  # numpy int: namespace index per workload
    edges_src: Any  # numpy int: workload index
    edges_dst: Any
    edges_port: Any

    @staticmethod
    def make(seed: int, namespaces: int = 40, per_namespace: int = 10) -> FlowWorld:
        rng = np.random.default_rng(seed)
        names = [f"team-{i:02d}" for i in range(namespaces)]
        kinds = ["api", "web", "worker", "db", "cache", "queue", "auth", "search", "mail", "cron"]
        workloads = [f"{kinds[j % len(kinds)]}-{j // len(kinds)}" for j in range(per_namespace)]
        all_workloads = [w for _ in names for w in workloads]
        workload_ns = np.repeat(np.arange(namespaces), per_namespace)
        count = len(all_workloads)
        src = np.repeat(np.arange(count), 5)  # each workload talks to 5 others
        dst = rng.integers(0, count, len(src))
        port = PORTS[rng.integers(0, len(PORTS), len(src))]
        return FlowWorld("prod-eu", names, all_workloads, workload_ns, src, dst, port)

    def batch(self, rng: Any, first: int, count: int, start_ns: int, span_ns: int) -> Any:
        """``count`` flows with times in ``[start_ns, start_ns + span_ns)``, in time order;
        uuids numbered from ``first`` (distinct across batches)."""
        edge = rng.integers(0, len(self.edges_src), count)
        src, dst = self.edges_src[edge], self.edges_dst[edge]
        port = self.edges_port[edge]
        times = np.sort(start_ns + rng.integers(0, span_ns, count))
        dropped = rng.random(count) < DROP_RATE
        reply = rng.random(count) < 0.4
        draws = (src, dst, port, times, dropped, reply)
        columns = self._columns(rng, first, count, *draws)
        columns["raw"] = _raw_json(columns, self, draws)
        # Columns the synthetic flows leave unset (the staged-policy marks) are empty.
        arrays = [
            columns[f.name].cast(f.type) if f.name in columns else _empty(f, count)
            for f in ARROW_SCHEMA
        ]
        return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)

    def _columns(self, rng: Any, first: int, count: int, *draws: Any) -> dict[str, Any]:
        src, dst, port, times, dropped, reply = draws
        udp = port == 53
        uuid = pc.binary_join_element_wise(
            "5f0c1e2d-0000-4000-8000-",
            pc.utf8_lpad(pa.array(np.arange(first, first + count)).cast(pa.string()), 12, "0"),
            "",
        )
        pods = rng.integers(0, 3, (2, count))
        return {
            "_src_pod": pods[0],
            "_dst_pod": pods[1],
            "day": pa.array((times // NANOS_PER_DAY).astype(np.int32)).cast(pa.date32()),
            "time_ns": pa.array(times),
            "seq": pa.array(np.zeros(count, dtype=np.int64)),
            "key": uuid,
            "uuid": uuid,
            "cluster": _repeat(self.cluster, count),
            "node_name": _pick([f"{self.cluster}/node-{i}" for i in range(12)], rng, count),
            "verdict": _where(dropped, "DROPPED", "FORWARDED"),
            "drop_reason_desc": _where(dropped, "POLICY_DENIED", "DROP_REASON_UNKNOWN"),
            "traffic_direction": _where(reply, "INGRESS", "EGRESS"),
            "ip_src": _ips(src, pods[0]),
            "ip_dst": _ips(dst, pods[1]),
            "ip_version": _repeat("IPv4", count),
            "l4_protocol": _where(udp, "UDP", "TCP"),
            "protocols": _lists(pc.if_else(pa.array(udp), "UDP", "TCP")),
            "src_port": pa.array(rng.integers(32768, 61000, count)),
            "dst_port": pa.array(port),
            "tcp_flags": _tcp_flags(rng, udp),
            **self._endpoint("src", src, pods[0]),
            **self._endpoint("dst", dst, pods[1]),
            **_no_l7(count),
            "is_reply": pa.array(reply),
            "summary": _where(udp, "UDP", "TCP Flags: ACK"),
        }

    def _endpoint(self, side: str, workload: Any, pod: Any) -> dict[str, Any]:
        count = len(workload)
        namespace = pc.take(pa.array(self.namespaces), pa.array(self.workload_ns[workload]))
        name = pc.take(pa.array(self.workloads), pa.array(workload))
        labels = pc.take(self._labels(), pa.array(workload))
        pod_name = pc.binary_join_element_wise(
            name, "-7d9f8c6b5-", pa.array(pod).cast(pa.string()), ""
        )
        return {
            f"{side}_cluster": _repeat(self.cluster, count),
            f"{side}_namespace": namespace,
            f"{side}_pod": pod_name,
            f"{side}_labels": labels,
            f"{side}_identity": pa.array(10_000 + workload),
            f"{side}_workload": name,
        }

    def endpoint_json(self) -> Any:
        """The JSON of each endpoint (index workload * 3 + pod), as flowencode writes it."""
        texts = []
        for index, (name, ns) in enumerate(
            zip(self.workloads, self._namespace_names(), strict=True)
        ):
            labels = json.dumps(self._label_texts(name, ns), separators=(",", ":"))
            for pod in range(3):
                texts.append(
                    f'{{"identity":{10_000 + index},"cluster_name":"{self.cluster}",'
                    f'"namespace":"{ns}","labels":{labels},"pod_name":"{name}-7d9f8c6b5-{pod}",'
                    f'"workloads":[{{"name":"{name}","kind":"Deployment"}}]}}'
                )
        return pa.array(texts)

    def _namespace_names(self) -> list[str]:
        return [self.namespaces[i] for i in self.workload_ns]

    def _label_texts(self, workload: str, namespace: str) -> list[str]:
        return [
            f"k8s:app={workload}",
            f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={namespace}",
            f"k8s:io.cilium.k8s.policy.cluster={self.cluster}",
            f"k8s:io.cilium.k8s.policy.serviceaccount={workload}",
            f"k8s:io.kubernetes.pod.namespace={namespace}",
        ]

    def _labels(self) -> Any:
        texts = zip(self.workloads, self._namespace_names(), strict=True)
        return pa.array([self._label_texts(w, ns) for w, ns in texts], pa.list_(pa.string()))


def _repeat(value: str, count: int) -> Any:
    return pa.repeat(pa.scalar(value, pa.string()), count)


def _where(mask: Any, yes: str, no: str) -> Any:
    return pc.if_else(pa.array(mask), yes, no)


def _pick(values: list[str], rng: Any, count: int) -> Any:
    return pc.take(pa.array(values), pa.array(rng.integers(0, len(values), count)))


def _ips(workload: Any, pod: Any) -> Any:
    third, fourth = (workload * 3 + pod) // 250, (workload * 3 + pod) % 250 + 1
    parts = [pa.array(p).cast(pa.string()) for p in (third, fourth)]
    return pc.binary_join_element_wise("10.244", *parts, ".")


def _lists(values: Any) -> Any:
    offsets = pa.array(np.arange(len(values) + 1, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def _tcp_flags(rng: Any, udp: Any) -> Any:
    flags = pa.array([["ACK"], ["ACK", "PSH"], ["SYN"], ["ACK", "FIN"]], pa.list_(pa.string()))
    picked = pc.take(flags, pa.array(rng.choice(4, len(udp), p=[0.6, 0.25, 0.1, 0.05])))
    return pc.if_else(pa.array(udp), pa.scalar(None, picked.type), picked)


def _no_l7(count: int) -> dict[str, Any]:
    empty = pa.ListArray.from_arrays(
        pa.array(np.zeros(count + 1, dtype=np.int32)), pa.array([], pa.string())
    )
    nulls = pa.nulls(count, pa.string())
    return {
        "l7_type": nulls,
        "dns_query": nulls,
        "http_method": nulls,
        "http_url": nulls,
        "http_code": pa.nulls(count, pa.int32()),
        "egress_allowed_by": empty,
        "ingress_allowed_by": empty,
        "egress_denied_by": empty,
        "ingress_denied_by": empty,
    }


def _raw_json(c: dict[str, Any], world: FlowWorld, draws: tuple[Any, ...]) -> Any:
    """Each flow's JSON object (the fields ``flowencode.flow_to_json`` writes for it), from
    few pieces: endpoint and tail texts are made once per workload, pod or combination and
    taken per row (joining many small pieces per row is slow)."""
    src, dst, port, times, dropped, reply = draws
    seconds = pa.array((times // 1_000_000_000).astype("datetime64[s]"))
    fraction = pc.utf8_lpad(pa.array(times % 1_000_000_000).cast(pa.string()), 9, "0")
    verdict = pc.if_else(
        pa.array(dropped), '"DROPPED","drop_reason_desc":"POLICY_DENIED"', '"FORWARDED"'
    )
    pods = (c["_src_pod"], c["_dst_pod"])
    endpoints = world.endpoint_json()
    udp = port == 53
    flags = pc.fill_null(pc.binary_join(c["tcp_flags"], '":true,"'), "")
    l4 = pc.if_else(pa.array(udp), '},"l4":{"UDP":{"source_port":', '},"l4":{"TCP":{"source_port":')
    flag_text = pc.if_else(
        pa.array(udp), "}}", pc.binary_join_element_wise(',"flags":{"', flags, '":true}}}', "")
    )
    tail = pc.binary_join_element_wise(
        ',"Type":"L3_L4","node_name":"', c["node_name"], '","event_type":{"type":4}',
        ',"traffic_direction":"', c["traffic_direction"], '","is_reply":',
        pc.if_else(pa.array(reply), "true", "false"), ',"Summary":"', c["summary"], '"}', "",
    )  # fmt: skip
    pieces = [
        '{"time":"', pc.strftime(seconds, "%Y-%m-%dT%H:%M:%S"), ".", fraction, 'Z","uuid":"',
        c["uuid"], '","verdict":', verdict, ',"IP":{"source":"', c["ip_src"],
        '","destination":"', c["ip_dst"], '","ipVersion":"IPv4"', l4,
        c["src_port"].cast(pa.string()), ',"destination_port":', c["dst_port"].cast(pa.string()),
        flag_text, ',"source":', pc.take(endpoints, pa.array(src * 3 + pods[0])),
        ',"destination":', pc.take(endpoints, pa.array(dst * 3 + pods[1])), tail,
    ]  # fmt: skip
    return pc.binary_join_element_wise(*pieces, "")


def hubble_lines(sample_dir: Path, count: int, start_ns: int, step_ns: int = 1_000) -> bytes:
    """``count`` Hubble JSON lines (``{"flow": ..., "node_name": ..., "time": ...}``): the
    real samples in turn, each with a fresh uuid and time (flow and envelope alike)."""
    objects = [
        json.loads(line)
        for path in sorted(sample_dir.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    out = []
    for index in range(count):
        line = objects[index % len(objects)]
        stamp = format_time(start_ns + index * step_ns)
        flow = {**line["flow"], "time": stamp, "uuid": f"8c1e0f2a-0000-4000-8000-{index:012d}"}
        envelope = {"flow": flow, "node_name": line.get("node_name", ""), "time": stamp}
        out.append(json.dumps(envelope, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode("utf-8")


def _empty(field: pa.Field, count: int) -> pa.Array:
    if pa.types.is_list(field.type):
        return pa.array([[]] * count, type=field.type)
    return pa.nulls(count, field.type)
