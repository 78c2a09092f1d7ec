"""The simulated cluster's description: a Topology document and/or Kubernetes manifests.

A topology file is a YAML stream. One document may be a ``Topology`` (the application:
namespaces, workloads, who calls whom, external destinations, DNS lookups, scanners,
rates); the others may be Kubernetes manifests (Namespace, Deployment, StatefulSet,
DaemonSet, Pod, Service) that add to the inventory, and policy objects that exist in
the cluster before the agent arrives (unmanaged). Every error is a located
:class:`Diagnostic` (file, document, line, field path); see
``docs/design/simulated-cluster.md`` for the format.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwarden.model.diagnostics import Diagnostic, InputError, Location, Severity
from netwarden.model.ports import Protocol
from netwarden.sources.loader import manifest_files
from netwarden.sources.yamldoc import Cursor, SourceDoc, load_documents

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Pod")
POLICY_KINDS = (
    "NetworkPolicy",
    "CiliumNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "ClusterNetworkPolicy",
)
_TOPOLOGY_FIELDS = {
    "nodes", "podCIDR", "rate", "dnsVisibility", "namespaces", "workloads", "calls",
    "external", "dns", "scans", "policies", "supportedKinds",
}  # fmt: skip
_WORKLOAD_FIELDS = {
    "name", "namespace", "kind", "replicas", "labels", "serviceAccount", "ports", "service",
}  # fmt: skip
_CALL_FIELDS = {"from", "to", "port", "protocol", "rate", "http", "dns"}
_RCODES = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}


class TopologyError(InputError, ValueError):
    """An unusable topology; ``diagnostics`` are located, ``str()`` lists them."""


@dataclass(frozen=True, slots=True)
class PortDef:
    port: int
    protocol: Protocol = Protocol.TCP
    name: str = ""


@dataclass(frozen=True, slots=True)
class WorkloadDef:
    """A workload and (when ``service``) its ClusterIP Service of the same name."""

    namespace: str
    name: str
    kind: str = "Deployment"
    replicas: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    service_account: str = ""
    ports: tuple[PortDef, ...] = ()
    service: bool = True
    pod_ips: tuple[str, ...] = ()  # fixed IPs (from Pod manifests' status.podIP)
    location: Location = field(default_factory=Location)


@dataclass(frozen=True, slots=True)
class ServiceDef:
    """A Kubernetes Service from a manifest (selector-based, may front several workloads)."""

    namespace: str
    name: str
    selector: dict[str, str]
    ports: tuple[PortDef, ...] = ()


@dataclass(frozen=True, slots=True)
class HTTPCall:
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class CallDef:
    """``source`` is ``ns/workload`` or an IP (a client outside the cluster); ``target``
    is ``ns/workload``, ``ns/service``, an FQDN or an IP."""

    source: str
    target: str
    port: int
    protocol: Protocol = Protocol.TCP
    rate: float = 1.0
    http: tuple[HTTPCall, ...] = ()
    dns: bool = True
    location: Location = field(default_factory=Location)  # of the ``from`` field
    target_at: Location = field(default_factory=Location)


@dataclass(frozen=True, slots=True)
class LookupDef:
    source: str
    query: str
    rcode: int = 0
    rate: float = 0.5
    location: Location = field(default_factory=Location)


@dataclass(frozen=True, slots=True)
class ScanDef:
    source: str
    namespaces: tuple[str, ...]
    ports: tuple[int, ...]
    rate: float = 5.0
    location: Location = field(default_factory=Location)


@dataclass
class Topology:
    name: str = "cluster"
    nodes: int = 3
    pod_cidr: str | None = None
    rate: float | None = None  # overall flows/s; None: the calls' own rates
    dns_visibility: bool = True
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    workloads: list[WorkloadDef] = field(default_factory=list)
    services: list[ServiceDef] = field(default_factory=list)
    calls: list[CallDef] = field(default_factory=list)
    external: dict[str, str] = field(default_factory=dict)  # FQDN -> IP
    lookups: list[LookupDef] = field(default_factory=list)
    scans: list[ScanDef] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)  # pre-existing, unmanaged
    supported_kinds: tuple[str, ...] = ()  # policy kinds whose CRDs exist; () = all


def load_topology(path: str | Path) -> Topology:
    """Read a file or a directory of them; :class:`TopologyError` if invalid."""
    root = Path(path)
    if not root.exists():
        loc = Location(str(path))
        raise TopologyError([Diagnostic("no-such-file", Severity.ERROR, "no such file", loc)])
    docs: list[SourceDoc] = []
    diags: list[Diagnostic] = []
    for file in manifest_files(root):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            loc = Location(str(file))
            diags.append(Diagnostic("unreadable", Severity.ERROR, f"cannot read: {exc}", loc))
            continue
        found, errors = load_documents(text, str(file))
        docs.extend(found)
        diags.extend(errors)
    return _from_documents(docs, diags)


def parse_topology(text: str, file: str = "<topology>") -> Topology:
    """Parse the text of a topology stream; :class:`TopologyError` if invalid."""
    docs, diags = load_documents(text, file)
    return _from_documents(docs, diags)


def _from_documents(docs: list[SourceDoc], diags: list[Diagnostic]) -> Topology:
    topo = Topology()
    seen_topology = False
    for doc in docs:
        root = Cursor.root(doc, diags)
        if not root.is_map("a Topology or a Kubernetes object"):
            continue
        kind = root.get("kind").string()
        if kind == "Topology":
            if seen_topology:
                root.get("kind").error("only one Topology document per input")
                continue
            seen_topology = True
            _read_topology(root, topo)
        elif kind in POLICY_KINDS:
            topo.policies.append(copy.deepcopy(root.value))
        elif kind in ("Namespace", "Service", *WORKLOAD_KINDS):
            _read_manifest(root, kind, topo)
        else:
            root.get("kind").error(
                f"expected Topology, a workload, Namespace, Service or a policy, got {kind!r}",
                "unsupported-kind",
            )
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors:
        raise TopologyError(errors)
    _check_references(topo, diags)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors:
        raise TopologyError(errors)
    topo.namespaces.setdefault("kube-system", {})
    for ns, labels in topo.namespaces.items():
        labels.setdefault("kubernetes.io/metadata.name", ns)
    return topo


def _unknown_fields(cur: Cursor, allowed: set[str]) -> None:
    for key in cur.keys():
        if key not in allowed:
            cur.get(key).error(f"unknown field {key!r}", "unknown-field")


def _read_topology(root: Cursor, topo: Topology) -> None:
    topo.name = root.get("metadata").get("name").string() or topo.name
    spec = root.get("spec")
    if not spec.is_map("the topology spec"):
        spec.error("a Topology needs a spec")
        return
    _unknown_fields(spec, _TOPOLOGY_FIELDS)
    nodes = spec.get("nodes").integer(3)
    if nodes is not None and not 1 <= nodes <= 1000:
        spec.get("nodes").error("nodes is between 1 and 1000")
    topo.nodes = nodes or 3
    topo.pod_cidr = _cidr(spec.get("podCIDR"))
    topo.rate = _rate(spec.get("rate"), None)
    topo.dns_visibility = bool(spec.get("dnsVisibility").boolean(True))
    for item in spec.get("namespaces").items():
        name = item.get("name").string()
        if not name:
            item.get("name").error("a namespace needs a name")
            continue
        _unknown_fields(item, {"name", "labels"})
        topo.namespaces.setdefault(name, {}).update(item.get("labels").string_map())
    for item in spec.get("workloads").items():
        workload = _workload(item)
        if workload is not None:
            topo.workloads.append(workload)
    for key in spec.get("external").keys():
        value = spec.get("external").get(key)
        if _ip(value) is not None:
            topo.external[key.lower().rstrip(".")] = str(value.value)
    topo.calls.extend(c for c in map(_call, spec.get("calls").items()) if c is not None)
    topo.lookups.extend(x for x in map(_lookup, spec.get("dns").items()) if x is not None)
    topo.scans.extend(s for s in map(_scan, spec.get("scans").items()) if s is not None)
    for item in spec.get("supportedKinds").items():
        kind = item.string()
        if kind not in POLICY_KINDS:
            item.error(f"a supported kind is one of {', '.join(POLICY_KINDS)}")
        elif kind not in topo.supported_kinds:
            topo.supported_kinds += (kind,)
    for item in spec.get("policies").items():
        kind = item.get("kind").string()
        if kind not in POLICY_KINDS:
            item.get("kind").error(f"a pre-existing policy is one of {', '.join(POLICY_KINDS)}")
            continue
        topo.policies.append(copy.deepcopy(item.value))


def _cidr(cur: Cursor) -> str | None:
    text = cur.string()
    if text is None:
        return None
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        cur.error(f"{text!r} is not a CIDR")
        return None
    if net.version != 4 or net.prefixlen > 24:
        cur.error("podCIDR is an IPv4 network of /24 or larger")
        return None
    return str(net)


def _ip(cur: Cursor) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = cur.string()
    try:
        return ipaddress.ip_address(text or "")
    except ValueError:
        cur.error(f"{text!r} is not an IP address")
        return None


def _rate(cur: Cursor, default: float | None) -> float | None:
    if cur.value is None:
        return default
    if isinstance(cur.value, bool) or not isinstance(cur.value, int | float):
        cur.error("a rate is a number (per second)")
        return default
    if cur.value < 0:
        cur.error("a rate cannot be negative")
        return default
    return float(cur.value)


def _protocol(cur: Cursor) -> Protocol:
    text = (cur.string() or "TCP").upper()
    if text not in ("TCP", "UDP", "SCTP"):
        cur.error(f"protocol is TCP, UDP or SCTP, got {text!r}")
        return Protocol.TCP
    return Protocol(text)


def _port_number(cur: Cursor) -> int | None:
    number = cur.integer()
    if number is not None and not 1 <= number <= 65535:
        cur.error(f"port {number} is not in 1-65535")
        return None
    return number


def _ports(cur: Cursor) -> tuple[PortDef, ...]:
    out = []
    for item in cur.items():
        if isinstance(item.value, int):
            number = _port_number(item)
            if number is not None:
                out.append(PortDef(number))
            continue
        if not item.is_map("a port ({port, protocol, name}) or a number"):
            continue
        number = _port_number(item.get("port"))
        if number is None:
            if not item.get("port").present:
                item.get("port").error("a port needs a number")
            continue
        name = item.get("name").string() or ""
        out.append(PortDef(number, _protocol(item.get("protocol")), name))
    return tuple(out)


def _workload(item: Cursor) -> WorkloadDef | None:
    if not item.is_map("a workload"):
        return None
    _unknown_fields(item, _WORKLOAD_FIELDS)
    name = item.get("name").string()
    namespace = item.get("namespace").string()
    if not name:
        item.get("name").error("a workload needs a name")
    if not namespace:
        item.get("namespace").error("a workload needs a namespace")
    kind = item.get("kind").string() or "Deployment"
    if kind not in WORKLOAD_KINDS:
        item.get("kind").error(f"kind is one of {', '.join(WORKLOAD_KINDS)}, got {kind!r}")
    replicas = item.get("replicas").integer(1)
    if replicas is not None and not 0 <= replicas <= 500:
        item.get("replicas").error("replicas is between 0 and 500")
        replicas = 1
    labels = item.get("labels").string_map() or {"app": name or ""}
    if not name or not namespace:
        return None
    return WorkloadDef(
        namespace=namespace,
        name=name,
        kind=kind,
        replicas=1 if kind == "Pod" else replicas or 0,
        labels=labels,
        service_account=item.get("serviceAccount").string() or "",
        ports=_ports(item.get("ports")),
        service=bool(item.get("service").boolean(True)),
        location=item.location,
    )


def _call(item: Cursor) -> CallDef | None:
    if not item.is_map("a call ({from, to, port, ...})"):
        return None
    _unknown_fields(item, _CALL_FIELDS)
    source, target = item.get("from").string(), item.get("to").string()
    port = _port_number(item.get("port"))
    if not source:
        item.get("from").error("a call needs from (namespace/workload or an IP)")
    if not target:
        item.get("to").error("a call needs to (namespace/workload, an FQDN or an IP)")
    if port is None and not item.get("port").present:
        item.get("port").error("a call needs a port")
    http = []
    for h in item.get("http").items():
        if not h.is_map("an HTTP request ({method, path})"):
            continue
        path = h.get("path").string("/") or "/"
        if not path.startswith("/"):
            h.get("path").error("an HTTP path starts with /")
        http.append(HTTPCall((h.get("method").string("GET") or "GET").upper(), path))
    protocol = _protocol(item.get("protocol"))
    if http and protocol is not Protocol.TCP:
        item.get("http").error("HTTP requests need protocol TCP")
    rate = _rate(item.get("rate"), 1.0)
    if not source or not target or port is None:
        return None
    return CallDef(
        source=source,
        target=target,
        port=port,
        protocol=protocol,
        rate=1.0 if rate is None else rate,
        http=tuple(http),
        dns=bool(item.get("dns").boolean(True)),
        location=item.get("from").location,
        target_at=item.get("to").location,
    )


def _lookup(item: Cursor) -> LookupDef | None:
    if not item.is_map("a DNS lookup ({from, query, rcode, rate})"):
        return None
    _unknown_fields(item, {"from", "query", "rcode", "rate"})
    source, query = item.get("from").string(), item.get("query").string()
    if not source:
        item.get("from").error("a DNS lookup needs from (namespace/workload)")
    if not query:
        item.get("query").error("a DNS lookup needs a query")
    rcode_text = (item.get("rcode").string("NOERROR") or "NOERROR").upper()
    if rcode_text not in _RCODES:
        item.get("rcode").error(f"rcode is one of {', '.join(_RCODES)}")
    rate = _rate(item.get("rate"), 0.5)
    if not source or not query:
        return None
    rcode = _RCODES.get(rcode_text, 0)
    at = item.get("from").location
    return LookupDef(source, query, rcode, 0.5 if rate is None else rate, at)


def _scan(item: Cursor) -> ScanDef | None:
    if not item.is_map("a scan ({from, namespaces, ports, rate})"):
        return None
    _unknown_fields(item, {"from", "namespaces", "ports", "rate"})
    source = item.get("from").string()
    if not source:
        item.get("from").error("a scan needs from (namespace/workload)")
    ports = tuple(p.port for p in _ports(item.get("ports")))
    if not ports:
        item.get("ports").error("a scan needs at least one port")
    namespaces = tuple(item.get("namespaces").string_list())
    rate = _rate(item.get("rate"), 5.0)
    if not source or not ports:
        return None
    at = item.get("from").location
    return ScanDef(source, namespaces, ports, 5.0 if rate is None else rate, at)


# ---- Kubernetes manifests ---------------------------------------------------


def _read_manifest(root: Cursor, kind: str, topo: Topology) -> None:
    meta = root.get("metadata")
    name = meta.get("name").string()
    if not name:
        meta.get("name").error("metadata.name is required")
        return
    namespace = meta.get("namespace").string() or "default"
    if kind == "Namespace":
        topo.namespaces.setdefault(name, {}).update(meta.get("labels").string_map())
        return
    topo.namespaces.setdefault(namespace, {})
    spec = root.get("spec")
    if kind == "Service":
        service_ports = []
        for p in spec.get("ports").items():
            number = _port_number(p.get("port"))
            if number is not None:
                port_name = p.get("name").string() or ""
                service_ports.append(PortDef(number, _protocol(p.get("protocol")), port_name))
        selector = spec.get("selector").string_map()
        topo.services.append(ServiceDef(namespace, name, selector, tuple(service_ports)))
        return
    if kind == "Pod":
        pod_spec, labels, replicas = spec, meta.get("labels").string_map(), 1
        ip = root.get("status").get("podIP")
        pod_ips = (str(ip.value),) if ip.present and _ip(ip) is not None else ()
    else:
        template = spec.get("template")
        pod_spec = template.get("spec")
        labels = template.get("metadata").get("labels").string_map()
        replicas = spec.get("replicas").integer(1) or 0
        pod_ips = ()
        if not labels:
            template.get("metadata").get("labels").error("a pod template needs labels")
    ports: list[PortDef] = []
    for container in pod_spec.get("containers").items():
        for p in container.get("ports").items():
            number = _port_number(p.get("containerPort"))
            if number is not None:
                port_name = p.get("name").string() or ""
                ports.append(PortDef(number, _protocol(p.get("protocol")), port_name))
    workload = WorkloadDef(
        namespace=namespace,
        name=name,
        kind=kind,
        replicas=replicas,
        labels=labels,
        service_account=pod_spec.get("serviceAccountName").string() or "",
        ports=tuple(ports),
        service=False,  # manifests bring their own Service objects
        pod_ips=pod_ips,
        location=root.location,
    )
    topo.workloads.append(workload)


# ---- cross-references -------------------------------------------------------


def _located(diags: list[Diagnostic], loc: Location, message: str) -> None:
    diags.append(Diagnostic("unknown-reference", Severity.ERROR, message, loc))


def _check_references(topo: Topology, diags: list[Diagnostic]) -> None:
    workloads = {f"{w.namespace}/{w.name}" for w in topo.workloads}
    services = {f"{s.namespace}/{s.name}" for s in topo.services}
    seen: set[str] = set()
    for w in topo.workloads:
        key = f"{w.namespace}/{w.name}"
        if key in seen:
            _located(diags, w.location, f"workload {key} is declared twice")
        seen.add(key)
        topo.namespaces.setdefault(w.namespace, {})
    for c in topo.calls:
        if not _is_ip(c.source) and c.source not in workloads:
            _located(diags, c.location, f"no workload {c.source} (namespace/name)")
        if "/" in c.target and c.target not in workloads | services:
            _located(diags, c.target_at, f"no workload or service {c.target}")
    for lookup in topo.lookups:
        if lookup.source not in workloads:
            _located(diags, lookup.location, f"no workload {lookup.source}")
    for scan in topo.scans:
        if scan.source not in workloads:
            _located(diags, scan.location, f"no workload {scan.source}")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_ip(text: str) -> bool:
    return _is_ip(text)
