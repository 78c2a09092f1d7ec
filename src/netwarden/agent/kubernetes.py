"""The agent's backend for a real cluster: the Kubernetes API and Hubble Relay.

- Inventory: list-then-watch caches (:mod:`netwarden.agent.kube_watch`) of namespaces,
  pods, nodes, services and Cilium's ``cilium-config`` ConfigMap; ``inventory()``
  reads them without a network call.
- Policy kinds: discovered (``/api``, ``/apis`` and each version of the policy groups)
  at start and every ``discovery_ttl`` seconds, and again when a desired object names
  a kind the last discovery did not see (a CRD installed since).
- ``apply``: server-side apply with the field manager ``netwarden-agent`` of each
  desired object, then deletion of managed objects no longer desired. Objects that
  exist without the ``app.kubernetes.io/managed-by=netwarden`` label are never
  applied over or deleted.
- ``flows``: Hubble Relay through :mod:`netwarden.agent.kube_flows`.

Cilium's own policy settings (``enable-policy``, ``policy-audit-mode`` in
``cilium-config``) are reported, not changed: see ``docs/design/agent-kubernetes.md``.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netwarden.agent.backend import (
    FIELD_MANAGER,
    MANAGED_BY,
    MANAGER,
    Inventory,
    LiveObjects,
    ObjectRef,
    ObjectResult,
)
from netwarden.agent.kube_api import (
    JSON,
    ApiResource,
    KubeApi,
    KubeError,
    discover,
    load_client,
)
from netwarden.agent.kube_flows import RelayFlows, heartbeats
from netwarden.agent.kube_inventory import (
    CILIUM_CONFIG,
    PodEntry,
    config_map_data,
    namespace_entry,
    node_entry,
    pod_entry,
    service_entry,
    settings_mismatches,
)
from netwarden.agent.kube_watch import WATCH_TIMEOUT, Backoff, Reflector
from netwarden.flows.hubble_client import HubbleClient, TLSConfig

log = logging.getLogger(__name__)

# The policy kinds Netwarden manages, with the apiVersions it writes (sources/loader.py).
POLICY_KINDS: dict[str, str] = {
    "NetworkPolicy": "networking.k8s.io/v1",
    "CiliumNetworkPolicy": "cilium.io/v2",
    "CiliumClusterwideNetworkPolicy": "cilium.io/v2",
    "AdminNetworkPolicy": "policy.networking.k8s.io/v1alpha1",
    "BaselineAdminNetworkPolicy": "policy.networking.k8s.io/v1alpha1",
    "ClusterNetworkPolicy": "policy.networking.k8s.io/v1alpha2",
}
POLICY_GROUPS = ("networking.k8s.io", "cilium.io", "policy.networking.k8s.io")
MANAGED_SELECTOR = f"{MANAGED_BY}={MANAGER}"
UNMANAGED_SELECTOR = f"{MANAGED_BY}!={MANAGER}"
DISCOVERY_TTL = 300.0  # seconds
REDISCOVER_AFTER = 5.0  # at most this often when a desired kind is missing

# Core resources the inventory watches (the core group is always served).
NAMESPACES = ApiResource("v1", "Namespace", "namespaces", False)
PODS = ApiResource("v1", "Pod", "pods", True)
NODES = ApiResource("v1", "Node", "nodes", False)
SERVICES = ApiResource("v1", "Service", "services", True)
CONFIG_MAPS = ApiResource("v1", "ConfigMap", "configmaps", True)

# Set by the API server; an apply body must not carry them.
_SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


@dataclass(frozen=True, slots=True)
class CiliumSettings:
    """``cilium-config`` as the cluster holds it (None: not found) and where it differs
    from the last desired settings. Reported, never changed by the agent."""

    config: Mapping[str, str] | None
    mismatches: tuple[str, ...] = ()


@dataclass(slots=True)
class ApplyReport:
    """What the last ``apply`` did beyond the per-object results."""

    pruned: list[ObjectRef] = field(default_factory=list)
    prune_errors: dict[ObjectRef, str] = field(default_factory=dict)
    forced: list[ObjectRef] = field(default_factory=list)


@dataclass(slots=True)
class _Live:
    objects: LiveObjects
    failed_kinds: dict[str, str]  # kind -> why it could not be listed


class KubernetesBackend:
    """A real cluster as a :class:`netwarden.agent.backend.Backend`."""

    def __init__(
        self,
        cluster: str,
        api: KubeApi,
        *,
        hubble: HubbleClient | None = None,
        cilium_namespace: str = "kube-system",
        watch_timeout: int = WATCH_TIMEOUT,
        backoff: Backoff | None = None,
        discovery_ttl: float = DISCOVERY_TTL,
        flow_interval: float = 1.0,
        start: bool = True,
    ) -> None:
        self.cluster = cluster
        self.api = api
        self.hubble = hubble
        self.flow_interval = flow_interval
        self.discovery_ttl = discovery_ttl
        self.last_apply = ApplyReport()
        options: dict[str, Any] = {"watch_timeout": watch_timeout, "backoff": backoff}
        self.namespaces = Reflector(api, NAMESPACES, namespace_entry, **options)
        self.pods = Reflector(api, PODS, pod_entry, **options)
        self.nodes = Reflector(api, NODES, node_entry, **options)
        self.services = Reflector(api, SERVICES, service_entry, **options)
        self.cilium_config = Reflector(
            api,
            CONFIG_MAPS,
            config_map_data,
            namespace=cilium_namespace,
            field_selector=f"metadata.name={CILIUM_CONFIG}",
            **options,
        )
        self.reflectors: tuple[Reflector[Any], ...] = (
            self.namespaces,
            self.pods,
            self.nodes,
            self.services,
            self.cilium_config,
        )
        self._resources: dict[tuple[str, str], ApiResource] = {}
        self._discovered_at: float | None = None
        self._discovered = threading.Event()
        self._discovery_lock = threading.Lock()
        self._apply_lock = threading.Lock()
        self._mismatches: tuple[str, ...] = ()
        self._closed = threading.Event()
        self._backoff = backoff or Backoff()
        self._discovery_thread: threading.Thread | None = None
        if start:
            self.start()

    @classmethod
    def from_config(
        cls,
        cluster: str,
        kubeconfig: str | None,
        in_cluster: bool,
        hubble_relay: str | None,
        *,
        context: str | None = None,
        hubble_tls: TLSConfig | None = None,
        cilium_namespace: str = "kube-system",
    ) -> KubernetesBackend:
        """A started backend: in-cluster service account or kubeconfig (None: the default
        ``$KUBECONFIG`` / ``~/.kube/config``); flows from ``hubble_relay`` (``host:port``,
        ``tls://host:port``; None: no flows, heartbeats only)."""
        api = KubeApi(load_client(kubeconfig, in_cluster, context))
        hubble = HubbleClient(hubble_relay, tls=hubble_tls) if hubble_relay else None
        return cls(cluster, api, hubble=hubble, cilium_namespace=cilium_namespace)

    def start(self) -> None:
        for reflector in self.reflectors:
            reflector.start()
        self._discovery_thread = threading.Thread(
            target=self._discovery_loop, name="netwarden-discovery", daemon=True
        )
        self._discovery_thread.start()

    def wait_synced(self, timeout: float) -> bool:
        """True once every cache has listed and the policy kinds are discovered."""
        deadline = time.monotonic() + timeout
        for event in (*(r.synced for r in self.reflectors), self._discovered):
            if not event.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def close(self) -> None:
        self._closed.set()
        for reflector in self.reflectors:
            reflector.stop()
        if self._discovery_thread is not None:
            self._discovery_thread.join(5.0)
        if self.hubble is not None:
            self.hubble.close()
        self.api.close()

    # --- discovery ----------------------------------------------------------------------

    def _discovery_loop(self) -> None:
        failures = 0
        while not self._closed.is_set():
            try:
                self._discover()
                failures = 0
                wait = self.discovery_ttl
            except KubeError as exc:
                failures += 1
                log.warning("API discovery failed: %s (attempt %d)", exc, failures)
                wait = self._backoff.delay(failures)
            self._closed.wait(wait)

    def _discover(self) -> dict[tuple[str, str], ApiResource]:
        with self._discovery_lock:
            found = discover(self.api, POLICY_GROUPS)
            self._resources, self._discovered_at = found, time.monotonic()
            self._discovered.set()
            return found

    def _served(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ApiResource]:
        """The discovered resources, discovering again when stale or when a wanted
        (apiVersion, kind) is missing and the last discovery is not brand new."""
        resources, at = self._resources, self._discovered_at
        age = None if at is None else time.monotonic() - at
        missing = any(key not in resources for key in wanted)
        if age is None or age > self.discovery_ttl or (missing and age > REDISCOVER_AFTER):
            resources = self._discover()
        return resources

    def policy_resources(self) -> dict[str, ApiResource]:
        """kind -> the resource of each policy kind the cluster serves (at the apiVersion
        Netwarden writes). Uses the last discovery; never calls the API."""
        resources = self._resources
        return {
            kind: resources[version, kind]
            for kind, version in POLICY_KINDS.items()
            if (version, kind) in resources
        }

    # --- inventory ----------------------------------------------------------------------

    def inventory(self) -> Inventory:
        pods: list[PodEntry] = self.pods.items()
        versions = Counter(p.cilium_version for p in pods if p.cilium_version)
        return Inventory(
            namespaces=dict(sorted(self.namespaces.items())),
            pods=sorted((p.info for p in pods), key=lambda p: (p.namespace, p.name)),
            nodes=sorted(self.nodes.items(), key=lambda n: n.name),
            services=sorted(self.services.items(), key=lambda s: (s.namespace, s.name)),
            cilium_version=versions.most_common(1)[0][0] if versions else "",
            supported_kinds=frozenset(self.policy_resources()),
        )

    def cilium_settings(self) -> CiliumSettings:
        configs = self.cilium_config.items()
        return CiliumSettings(configs[0] if configs else None, self._mismatches)

    # --- live objects -------------------------------------------------------------------

    def live_objects(self) -> LiveObjects:
        """Managed policy objects (as the cluster holds them) and the refs of the others.
        Raises :class:`KubeError` when a kind cannot be listed."""
        live = self._live(self._served(()))
        if live.failed_kinds:
            kind, why = next(iter(live.failed_kinds.items()))
            raise KubeError(0, "ListFailed", f"cannot list {kind}: {why}")
        return live.objects

    def _live(self, resources: Mapping[tuple[str, str], ApiResource]) -> _Live:
        objects = LiveObjects()
        failed: dict[str, str] = {}
        for kind, version in POLICY_KINDS.items():
            resource = resources.get((version, kind))
            if resource is None:
                continue
            try:
                managed = self._list(resource, MANAGED_SELECTOR)
                unmanaged = self._list(resource, UNMANAGED_SELECTOR)
            except KubeError as exc:
                failed[kind] = str(exc)
                continue
            for obj in managed:
                obj.setdefault("apiVersion", version)
                obj.setdefault("kind", kind)
                objects.managed[ObjectRef.of(obj)] = obj
            objects.unmanaged.extend(ObjectRef.of({**obj, "kind": kind}) for obj in unmanaged)
        objects.unmanaged.sort()
        return _Live(objects, failed)

    def _list(self, resource: ApiResource, label_selector: str) -> list[JSON]:
        items: list[JSON] = []
        token = ""
        while True:
            query = [("labelSelector", label_selector), ("limit", "500")]
            if token:
                query.append(("continue", token))
            page = self.api.get(resource.path(), query)
            items.extend(i for i in page.get("items") or [] if isinstance(i, dict))
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items

    # --- apply --------------------------------------------------------------------------

    def apply(
        self,
        objects: Sequence[Mapping[str, Any]],
        settings: Mapping[str, str],
        *,
        force: bool = False,
    ) -> list[ObjectResult]:
        """Server-side apply every desired object, then prune (see the module doc).

        ``force``: on a conflict with another field manager, apply again with
        ``force=true`` (the runtime asks for it to restore drift); without it the
        conflict is a failed result with the server's message.
        """
        with self._apply_lock:
            report = ApplyReport()
            wanted = [(str(o.get("apiVersion", "")), str(o.get("kind", ""))) for o in objects]
            try:
                resources = self._served(wanted)
                live = self._live(resources)
            except KubeError as exc:  # discovery failed: nothing can be applied safely
                return [ObjectResult(ObjectRef.of(o), "failed", str(exc)) for o in objects]
            results = [self._apply_one(o, resources, live, force, report) for o in objects]
            self._prune(live, {r.ref for r in results}, resources, report)
            self._check_settings(settings)
            self.last_apply = report
            return results

    def _apply_one(
        self,
        obj: Mapping[str, Any],
        resources: Mapping[tuple[str, str], ApiResource],
        live: _Live,
        force: bool,
        report: ApplyReport,
    ) -> ObjectResult:
        ref = ObjectRef.of(obj)
        resource, problem = self._target(obj, ref, resources, live)
        if resource is None:
            return ObjectResult(ref, "failed", problem)
        path = resource.path(ref.namespace, ref.name)
        body = apply_body(obj)
        try:
            try:
                self.api.apply(path, body, FIELD_MANAGER, force=False)
            except KubeError as exc:
                if exc.status != 409 or not force:
                    raise
                self.api.apply(path, body, FIELD_MANAGER, force=True)
                report.forced.append(ref)
        except KubeError as exc:
            return ObjectResult(ref, "failed", str(exc))
        return ObjectResult(ref, "applied")

    def _target(
        self,
        obj: Mapping[str, Any],
        ref: ObjectRef,
        resources: Mapping[tuple[str, str], ApiResource],
        live: _Live,
    ) -> tuple[ApiResource | None, str]:
        """The resource to apply ``obj`` to, or None and why not."""
        version = str(obj.get("apiVersion", ""))
        if ref.kind not in POLICY_KINDS:
            what = ref.kind or "an object without kind"
            return (
                None,
                f"{what} is not a policy kind the agent manages ({', '.join(POLICY_KINDS)})",
            )
        if not ref.name:
            return None, "metadata.name is missing"
        resource = resources.get((version, ref.kind))
        if resource is None:
            served = sorted(v for v, k in resources if k == ref.kind)
            also = f" (it serves {ref.kind} as {', '.join(served)})" if served else ""
            return None, (
                f"the cluster does not serve {ref.kind} in {version or 'no apiVersion'}{also}: "
                "its CRD or API group is not installed"
            )
        if resource.namespaced != bool(ref.namespace):
            need = "needs metadata.namespace" if resource.namespaced else "is cluster-scoped"
            return None, f"{ref.kind} {need}"
        if ref.kind in live.failed_kinds:
            return None, f"cannot list {ref.kind} to check ownership: {live.failed_kinds[ref.kind]}"
        if ref in set(live.objects.unmanaged):
            return None, (
                f"{ref.kind} {_show(ref)} exists without the label {MANAGED_SELECTOR}: "
                "not managed by Netwarden, left untouched"
            )
        return resource, ""

    def _prune(
        self,
        live: _Live,
        desired: set[ObjectRef],
        resources: Mapping[tuple[str, str], ApiResource],
        report: ApplyReport,
    ) -> None:
        for ref, obj in sorted(live.objects.managed.items()):
            if ref in desired:
                continue
            resource = resources.get((POLICY_KINDS[ref.kind], ref.kind))
            if resource is None:
                continue
            uid = str((obj.get("metadata") or {}).get("uid") or "") or None
            try:
                self.api.delete(resource.path(ref.namespace, ref.name), uid=uid)
            except KubeError as exc:
                if exc.status != 404:  # already gone is what pruning wants
                    report.prune_errors[ref] = str(exc)
                    log.warning("pruning %s %s: %s", ref.kind, _show(ref), exc)
                    continue
            report.pruned.append(ref)

    def _check_settings(self, settings: Mapping[str, str]) -> None:
        configs = self.cilium_config.items()
        mismatches = tuple(settings_mismatches(settings, configs[0] if configs else None))
        if mismatches != self._mismatches:
            for line in mismatches:
                log.warning("cluster %s: %s", self.cluster, line)
        self._mismatches = mismatches

    # --- flows --------------------------------------------------------------------------

    def flows(self, stop: threading.Event) -> Iterator[list[bytes]]:
        if self.hubble is None:
            return heartbeats(stop, self.flow_interval)
        return RelayFlows(self.hubble, interval=self.flow_interval).batches(stop)


def apply_body(obj: Mapping[str, Any]) -> JSON:
    """The apply configuration: the desired object with the ownership label, without
    ``status`` and the fields the server sets."""
    body = copy.deepcopy(dict(obj))
    body.pop("status", None)
    meta = body.setdefault("metadata", {})
    for name in _SERVER_FIELDS:
        meta.pop(name, None)
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY: MANAGER}
    return body


def _show(ref: ObjectRef) -> str:
    return f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
