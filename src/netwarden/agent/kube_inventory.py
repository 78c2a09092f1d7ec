"""Kubernetes objects -> the backend's inventory values (what the watch caches keep).

Each ``*_entry`` function is a reflector transform: it keeps only what the inventory
needs, so the caches stay small on large clusters. Workloads are named from owner
references without reading the owners (no extra RBAC, no extra watches):

- ReplicaSet ``<deployment>-<pod-template-hash>`` -> Deployment, when the pod carries
  the ``pod-template-hash`` label the Deployment controller sets and the name ends
  with it; a ReplicaSet without that suffix is a workload of its own.
- StatefulSet, DaemonSet, and any other controller kind: the owner itself.
- Job ``<cronjob>-<scheduled time in minutes since the epoch>`` -> CronJob (the
  CronJob controller's naming); another Job is a workload of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netwarden.agent.backend import NodeInfo, PodInfo, ServiceInfo

JSON = dict[str, Any]

CILIUM_AGENT_LABEL = ("k8s-app", "cilium")  # the cilium DaemonSet's pods
CILIUM_CONFIG = "cilium-config"

# Minutes since the epoch of CronJob-scheduled Jobs: 2001-09-09 .. 2160: 8 digits.
_CRONJOB_JOB = re.compile(r"(?P<name>.+)-(?P<minutes>\d{8})")


def _meta(obj: Mapping[str, Any]) -> JSON:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _list(value: Any) -> list[JSON]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def namespace_entry(obj: JSON) -> tuple[str, dict[str, str]]:
    meta = _meta(obj)
    return str(meta.get("name", "")), _labels(meta.get("labels"))


def workload_of(meta: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, name) of the workload that runs a pod, ``("", "")`` for a bare pod."""
    owners = _list(meta.get("ownerReferences"))
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if owner is None:
        return "", ""
    kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
    if kind == "ReplicaSet":
        template_hash = _labels(meta.get("labels")).get("pod-template-hash", "")
        suffix = f"-{template_hash}"
        if template_hash and name.endswith(suffix) and len(name) > len(suffix):
            return "Deployment", name[: -len(suffix)]
    elif kind == "Job":
        match = _CRONJOB_JOB.fullmatch(name)
        if match is not None:
            return "CronJob", match["name"]
    return kind, name


def _ports(spec: Mapping[str, Any]) -> tuple[JSON, ...]:
    containers = _list(spec.get("containers"))
    # Sidecars (init containers that keep running) serve ports too.
    containers += [
        c for c in _list(spec.get("initContainers")) if c.get("restartPolicy") == "Always"
    ]
    ports: list[JSON] = []
    for container in containers:
        for port in _list(container.get("ports")):
            entry: JSON = {
                "containerPort": port.get("containerPort"),
                "protocol": port.get("protocol") or "TCP",
            }
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)
    return tuple(ports)


@dataclass(frozen=True, slots=True)
class PodEntry:
    info: PodInfo
    cilium_version: str = ""  # set on Cilium agent pods: their image's tag


def pod_entry(obj: JSON) -> PodEntry | None:
    """A pod that holds (or will hold) an endpoint; finished pods are left out, since
    their IPs are free for other pods and Cilium no longer has an endpoint for them."""
    meta = _meta(obj)
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    assert isinstance(spec, dict) and isinstance(status, dict)
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    labels = _labels(meta.get("labels"))
    kind, name = workload_of(meta)
    info = PodInfo(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        labels=labels,
        ip=str(status["podIP"]) if status.get("podIP") else None,
        node=str(spec.get("nodeName") or ""),
        workload=name,
        workload_kind=kind,
        host_network=bool(spec.get("hostNetwork")),
        ports=_ports(spec),
    )
    version = ""
    if labels.get(CILIUM_AGENT_LABEL[0]) == CILIUM_AGENT_LABEL[1]:
        for container in _list(spec.get("containers")):
            if container.get("name") == "cilium-agent":
                version = image_version(str(container.get("image", "")))
    return PodEntry(info, version)


def image_version(image: str) -> str:
    """``quay.io/cilium/cilium:v1.19.4@sha256:...`` -> ``1.19.4`` (``""`` without a tag)."""
    reference = image.split("@", 1)[0]
    _, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:
        return ""
    return tag.removeprefix("v")


def node_entry(obj: JSON) -> NodeInfo:
    meta = _meta(obj)
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    addresses = _list(status.get("addresses")) if isinstance(status, dict) else []
    by_type: dict[str, str] = {}
    for address in addresses:
        by_type.setdefault(str(address.get("type")), str(address.get("address", "")))
    ip = by_type.get("InternalIP") or by_type.get("ExternalIP")
    return NodeInfo(str(meta.get("name", "")), ip or None, _labels(meta.get("labels")))


def service_entry(obj: JSON) -> ServiceInfo:
    meta = _meta(obj)
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    cluster_ip = spec.get("clusterIP")
    keys = ("name", "port", "targetPort", "protocol")
    ports: tuple[JSON, ...] = tuple(
        {key: port[key] for key in keys if key in port} for port in _list(spec.get("ports"))
    )
    return ServiceInfo(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        selector=_labels(spec.get("selector")),
        cluster_ip=str(cluster_ip) if cluster_ip and cluster_ip != "None" else None,
        ports=ports,
    )


def config_map_data(obj: JSON) -> dict[str, str]:
    data = obj.get("data")
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


# --- Cilium's own settings: reported, never changed ---------------------------------------

# desired-state setting -> (cilium-config key, {desired value: Cilium value}, Cilium's default)
SETTING_KEYS: dict[str, tuple[str, dict[str, str], str]] = {
    "enforcementMode": ("policy-audit-mode", {"enforce": "false", "audit": "true"}, "false"),
    "policyEnforcement": (
        "enable-policy",
        {"default": "default", "always": "always", "never": "never"},
        "default",
    ),
}


def settings_mismatches(desired: Mapping[str, str], config: Mapping[str, str] | None) -> list[str]:
    """Where the cluster's Cilium does not run with the desired settings, one line each.

    The agent does not change ``cilium-config`` (it is Cilium's installation, owned by
    whoever installed Cilium, and a change needs the Cilium agents restarted).
    """
    out: list[str] = []
    for setting, (key, values, default) in SETTING_KEYS.items():
        wanted = desired.get(setting)
        if not wanted or wanted not in values:
            continue
        if config is None:
            out.append(f"{setting}={wanted}: ConfigMap {CILIUM_CONFIG} not found; cannot check")
            continue
        actual = config.get(key, default).strip().lower()
        if actual != values[wanted]:
            out.append(
                f"{setting}={wanted} needs {key}={values[wanted]!r} in ConfigMap "
                f"{CILIUM_CONFIG}, which has {actual!r}; the agent does not change Cilium's "
                "configuration"
            )
    return out
