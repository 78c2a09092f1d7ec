"""Workload names for pods: which Deployment, StatefulSet or DaemonSet owns a pod.

:func:`derive_workload` reads Hubble's ``workloads`` field first, then the
controllers' own pod labels, the pod name conventions and the ``app`` labels.
See ``docs/design/enrichment.md`` for the rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from netwarden.model.flow import Workload

# Pod name conventions of the built-in controllers (lowercase RFC 1123 names).
# Deployment -> ReplicaSet "<deploy>-<pod-template-hash>" -> pod "<rs>-<5 chars>".
_NAME = r"^(?P<name>[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)"
DEPLOYMENT_POD = re.compile(_NAME + r"-[a-z0-9]{5,10}-[a-z0-9]{5}$")
STATEFULSET_POD = re.compile(_NAME + r"-(?:0|[1-9][0-9]*)$")
DAEMONSET_POD = re.compile(_NAME + r"-[a-z0-9]{5}$")
NAME_LABELS = ("app.kubernetes.io/name", "app")
POD_TEMPLATE_HASH = "pod-template-hash"
STATEFULSET_POD_NAME = "statefulset.kubernetes.io/pod-name"
CONTROLLER_REVISION_HASH = "controller-revision-hash"
POD_TEMPLATE_GENERATION = "pod-template-generation"


def derive_workload(
    pod_name: str, labels: Mapping[str, str], workloads: Sequence[Workload] = ()
) -> tuple[Workload | None, str]:
    """The workload that owns a pod and the rule that found it.

    In order: Hubble's ``workloads`` field (``hubble``); the controllers' own pod
    labels when the inventory has them (``owner-label``: ``pod-template-hash`` for a
    Deployment, ``statefulset.kubernetes.io/pod-name`` for a StatefulSet,
    ``controller-revision-hash`` + ``pod-template-generation`` for a DaemonSet); the
    pod name conventions (``pod-name``): ``<deploy>-<hash 5-10>-<5>`` Deployment,
    ``<sts>-<ordinal>`` StatefulSet, ``<ds>-<5>`` DaemonSet; the labels
    ``app.kubernetes.io/name`` then ``app`` (``label:<key>``, kind unknown ``""``).
    ``(None, "none")`` when nothing applies.
    """
    if workloads:
        first = workloads[0]
        return Workload(first.name, first.kind), "hubble"
    if pod_name:
        found = _from_owner_labels(pod_name, labels)
        if found is not None:
            return found, "owner-label"
        for pattern, kind in (
            (DEPLOYMENT_POD, "Deployment"),
            (STATEFULSET_POD, "StatefulSet"),
            (DAEMONSET_POD, "DaemonSet"),
        ):
            match = pattern.match(pod_name)
            if match is not None:
                return Workload(match["name"], kind), "pod-name"
    for key in NAME_LABELS:
        value = labels.get(key)
        if value:
            return Workload(value, ""), f"label:{key}"
    return None, "none"


def _from_owner_labels(pod_name: str, labels: Mapping[str, str]) -> Workload | None:
    template_hash = labels.get(POD_TEMPLATE_HASH)
    if template_hash:
        head, sep, suffix = pod_name.rpartition("-")
        rs_suffix = f"-{template_hash}"
        if sep and suffix and head.endswith(rs_suffix) and len(head) > len(rs_suffix):
            return Workload(head[: -len(rs_suffix)], "Deployment")
    if labels.get(STATEFULSET_POD_NAME) == pod_name:
        match = STATEFULSET_POD.match(pod_name)
        if match is not None:
            return Workload(match["name"], "StatefulSet")
    if CONTROLLER_REVISION_HASH in labels and POD_TEMPLATE_GENERATION in labels:
        head, sep, suffix = pod_name.rpartition("-")
        if sep and head and suffix:
            return Workload(head, "DaemonSet")
    return None


__all__ = [
    "CONTROLLER_REVISION_HASH",
    "DAEMONSET_POD",
    "DEPLOYMENT_POD",
    "NAME_LABELS",
    "POD_TEMPLATE_GENERATION",
    "POD_TEMPLATE_HASH",
    "STATEFULSET_POD",
    "STATEFULSET_POD_NAME",
    "derive_workload",
]
