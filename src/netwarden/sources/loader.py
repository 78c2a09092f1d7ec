"""Read files and directories of manifests into inventory, policies and diagnostics."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from netwarden.model.diagnostics import Diagnostic, Location, Severity, SourceMap
from netwarden.model.endpoint import (
    DEFAULT_CLUSTER,
    K8S_NAMESPACE_NAME_LABEL,
    EndpointKind,
)
from netwarden.model.inventory import CiliumConfig, ClusterInventory
from netwarden.model.labels import Labels
from netwarden.model.rule import NormalizedPolicy
from netwarden.sources.admin import ANP, BANP, CLUSTER_NP, parse_admin_policy
from netwarden.sources.cilium import CCNP, CNP, parse_cilium_policy
from netwarden.sources.gcpause import no_cycle_collection
from netwarden.sources.inventory import (
    parse_apiserver_ips,
    parse_cilium_config,
    parse_namespace,
    parse_node,
    parse_pod,
)
from netwarden.sources.networkpolicy import parse_network_policy
from netwarden.sources.yamldoc import Cursor, SourceDoc, load_documents

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_API_VERSIONS = {
    "NetworkPolicy": {"networking.k8s.io/v1"},
    CNP: {"cilium.io/v2"},
    CCNP: {"cilium.io/v2"},
    ANP: {"policy.networking.k8s.io/v1alpha1"},
    BANP: {"policy.networking.k8s.io/v1alpha1"},
    CLUSTER_NP: {"policy.networking.k8s.io/v1alpha2"},
}
_INVENTORY_KINDS = {"Namespace", "Pod", "Node", "Endpoints", "EndpointSlice", "ConfigMap"}


@dataclass
class PolicyInput:
    """Everything read from the inputs: per-cluster inventory and all policies."""

    clusters: dict[str, ClusterInventory] = field(default_factory=dict)
    policies: list[NormalizedPolicy] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    def cluster(self, name: str) -> ClusterInventory:
        if name not in self.clusters:
            self.clusters[name] = ClusterInventory(name)
        return self.clusters[name]


def split_cluster_arg(arg: str) -> tuple[str | None, str]:
    """``prod-eu=path`` -> (prod-eu, path); a plain path -> (None, path)."""
    name, sep, rest = arg.partition("=")
    if sep and name and "/" not in name and not Path(arg).exists():
        return name, rest
    return None, arg


def manifest_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file())
    return [path]


def load_inputs(args: Iterable[str]) -> PolicyInput:
    """Load ``-f`` arguments (files, directories, ``cluster=path``)."""
    with no_cycle_collection():
        return _load_inputs(args)


def _load_inputs(args: Iterable[str]) -> PolicyInput:
    result = PolicyInput()
    grouped: dict[str | None, list[SourceDoc]] = {}
    for arg in args:
        cluster, path_text = split_cluster_arg(arg)
        path = Path(path_text)
        if not path.exists():
            loc = Location(path_text)
            result.diagnostics.append(
                Diagnostic("no-such-file", Severity.ERROR, "no such file or directory", loc)
            )
            continue
        for file in manifest_files(path):
            grouped.setdefault(cluster, []).extend(_read_file(file, result.diagnostics))
    for cluster, docs in grouped.items():
        load_documents_into(result, docs, cluster)
    finalize(result)
    return result


def load_text(text: str, file: str = "<input>", cluster: str | None = None) -> PolicyInput:
    with no_cycle_collection():
        return _load_text(text, file, cluster)


def _load_text(text: str, file: str, cluster: str | None) -> PolicyInput:
    result = PolicyInput()
    docs, diags = load_documents(text, file)
    result.diagnostics.extend(diags)
    load_documents_into(result, docs, cluster)
    finalize(result)
    return result


def _read_file(file: Path, diagnostics: list[Diagnostic]) -> list[SourceDoc]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        loc = Location(str(file))
        diagnostics.append(Diagnostic("unreadable", Severity.ERROR, f"cannot read: {exc}", loc))
        return []
    if file.suffix == ".json" and text.lstrip().startswith("["):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            loc = Location(str(file), 0, exc.lineno)
            diagnostics.append(Diagnostic("json-syntax", Severity.ERROR, exc.msg, loc))
            return []
    docs, diags = load_documents(text, str(file))
    diagnostics.extend(diags)
    return docs


def _expand_lists(docs: list[SourceDoc], diags: list[Diagnostic]) -> list[tuple[SourceDoc, Cursor]]:
    out: list[tuple[SourceDoc, Cursor]] = []
    for doc in docs:
        root = Cursor.root(doc, diags)
        if isinstance(doc.data, list):
            out.extend((doc, item) for item in root.items())
        elif isinstance(doc.data, dict) and doc.data.get("kind") == "List":
            out.extend((doc, item) for item in root.get("items").items())
        else:
            out.append((doc, root))
    return out


def load_documents_into(result: PolicyInput, docs: list[SourceDoc], cluster: str | None) -> None:
    diags = result.diagnostics
    objects = _expand_lists(docs, diags)
    # Agent settings come first: they change how Cilium policies are read.
    config, name = CiliumConfig(), cluster
    for _doc, cur in objects:
        if _is_cilium_config(cur):
            config, cm_name = parse_cilium_config(cur, config)
            name = name or cm_name
    inv = result.cluster(name or DEFAULT_CLUSTER)
    inv.config = config
    seen: dict[tuple[str, str | None, str | None], Location] = {}
    for _doc, cur in objects:
        if not cur.is_map("a Kubernetes object"):
            continue
        kind = cur.get("kind").string()
        if not kind and not cur.has("apiVersion"):
            # Not a Kubernetes object (a Helm values file, say): skip it, as other kinds.
            note = "not a Kubernetes object (no apiVersion or kind); skipped"
            cur.diagnostics.append(Diagnostic("skipped-kind", Severity.INFO, note, cur.location))
            continue
        if not kind:
            cur.get("kind").error("kind is required")
            continue
        meta = cur.get("metadata")
        key = (kind, meta.get("namespace").string(), meta.get("name").string())
        if key in seen and kind not in ("Endpoints", "EndpointSlice", "ConfigMap"):
            cur.warn(f"duplicate {kind} {key[1] or ''}/{key[2]}: the later one wins", "duplicate")
        seen[key] = cur.location
        _load_object(result, inv, cur, kind)


def _is_cilium_config(cur: Cursor) -> bool:
    if not isinstance(cur.value, dict) or cur.value.get("kind") != "ConfigMap":
        return False
    meta = cur.value.get("metadata")
    if not isinstance(meta, dict):
        return False
    return meta.get("name") == "cilium-config" and meta.get("namespace") == "kube-system"


def _load_object(result: PolicyInput, inv: ClusterInventory, cur: Cursor, kind: str) -> None:
    if kind in _API_VERSIONS:
        api_version = cur.get("apiVersion").string()
        if api_version not in _API_VERSIONS[kind]:
            expected = " or ".join(sorted(_API_VERSIONS[kind]))
            cur.get("apiVersion").error(
                f"{kind} needs apiVersion {expected}, got {api_version!r}", "api-version"
            )
            return
        policy = _parse_policy(cur, kind, inv)
        if policy is not None:
            source = SourceMap(cur.doc.file, cur.doc.index, cur.doc.lines, cur.path)
            policy = dataclasses.replace(policy, source=source)
            result.policies.append(policy)  # duplicates: the later one wins in finalize()
        return
    if kind not in _INVENTORY_KINDS:
        cur.diagnostics.append(
            Diagnostic("skipped-kind", Severity.INFO, f"{kind} is not used; skipped", cur.location)
        )
        return
    _load_inventory_object(inv, cur, kind)


def _parse_policy(cur: Cursor, kind: str, inv: ClusterInventory) -> NormalizedPolicy | None:
    if kind == "NetworkPolicy":
        return parse_network_policy(cur, inv.name)
    if kind in (CNP, CCNP):
        return parse_cilium_policy(cur, inv.name, inv.config)
    return parse_admin_policy(cur, inv.name)


def _load_inventory_object(inv: ClusterInventory, cur: Cursor, kind: str) -> None:
    meta = cur.get("metadata")
    if kind == "Namespace":
        parse_namespace(cur, inv)
    elif kind == "Pod":
        parsed = parse_pod(cur, inv.name)
        if parsed is not None:
            endpoint, host_network = parsed
            if host_network:
                endpoint = dataclasses.replace(endpoint, kind=EndpointKind.HOST)
            inv.pods.append(endpoint)  # duplicates: the later one wins in finalize()
    elif kind == "Node":
        inv.nodes.extend(parse_node(cur, inv.name))
    elif kind in ("Endpoints", "EndpointSlice"):
        is_default_ns = (meta.get("namespace").string() or "default") == "default"
        service = meta.get("name").string()
        if kind == "EndpointSlice":
            service = meta.get("labels").string_map().get("kubernetes.io/service-name")
        if is_default_ns and service == "kubernetes":
            inv.apiserver_ips |= parse_apiserver_ips(cur)
    # ConfigMaps other than cilium-config carry nothing the engine needs.


def finalize(result: PolicyInput) -> None:
    """Fill in namespace labels and node/apiserver facts on pod endpoints."""
    result.policies = list({p.ref: p for p in result.policies}.values())
    for inv in result.clusters.values():
        latest = {(p.namespace, p.name): p for p in inv.pods}
        node_labels_of = {n.name: n.labels for n in inv.nodes}
        ns_labels_of: dict[str, Labels] = {}  # one Labels value per namespace
        pods = []
        for pod in latest.values():
            ns = pod.namespace or "default"
            ns_labels = ns_labels_of.get(ns)
            if ns_labels is None:
                ns_labels = Labels(inv.namespaces.get(ns) or {K8S_NAMESPACE_NAME_LABEL: ns})
                ns_labels_of[ns] = ns_labels
            labels = pod.labels
            if pod.kind is EndpointKind.HOST:
                labels = node_labels_of.get(pod.node_name, Labels())
            is_apiserver = pod.ip in inv.apiserver_ips
            pods.append(
                dataclasses.replace(
                    pod, labels=labels, namespace_labels=ns_labels, is_apiserver=is_apiserver
                )
            )
        inv.pods = pods
        inv.nodes = [
            dataclasses.replace(n, is_apiserver=n.ip in inv.apiserver_ips) for n in inv.nodes
        ]
