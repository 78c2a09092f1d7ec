"""What every lint check shares: the finding type, the check record, the context.

A check is a pure function ``LintContext -> Iterable[Finding]``. The runner
turns findings into ``Diagnostic`` values stamped with the check's code, so a
check never spells its own code and the registry is the one list of codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from netwarden.engine.compiled import CompiledEngine
from netwarden.engine.world import World
from netwarden.model.diagnostics import Location, PathKey, Severity
from netwarden.model.endpoint import (
    K8S_NAMESPACE_NAME_LABEL,
    Endpoint,
    EndpointKind,
)
from netwarden.model.labels import Labels
from netwarden.model.rule import (
    EndpointSelector,
    NormalizedPolicy,
    PolicyRef,
    Rule,
)

# How many endpoints a message names before "and N more".
EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a check found, about one policy (``severity`` overrides the check's)."""

    message: str
    location: Location
    policy: PolicyRef | None = None
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check: its code (``NW101-no-pods-selected``), default severity,
    one-line summary (for docs and ``--list-checks``) and the function that runs it."""

    code: str
    severity: Severity
    summary: str
    run: Callable[[LintContext], Iterable[Finding]]

    @property
    def number(self) -> str:
        """The stable short code, ``NW101``."""
        return self.code.split("-", 1)[0]


def subject_text(ref: PolicyRef) -> str:
    """``NetworkPolicy x/allow-dns`` or ``AdminNetworkPolicy default-deny``."""
    if ref.namespace:
        return f"{ref.kind} {ref.namespace}/{ref.name}"
    return f"{ref.kind} {ref.name}"


def name_endpoints(endpoints: Iterable[Endpoint]) -> str:
    """``x/a, x/b, x/c and 2 more``: a short, sorted list for messages."""
    names = sorted({ep.display() for ep in endpoints})
    text = ", ".join(names[:EXAMPLES])
    if len(names) > EXAMPLES:
        text += f" and {len(names) - EXAMPLES} more"
    return text


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class LintContext:
    """The inputs of a lint run and the lookups checks share (computed once)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.policies: list[NormalizedPolicy] = list(world.policies)
        self._by_ref = {p.ref: p for p in self.policies}
        self._namespaces: dict[str, dict[str, Labels]] = {}
        self._selected: dict[tuple[EndpointSelector, str | None], list[Endpoint]] = {}
        self._groups: dict[str | None, dict[int, list[Endpoint]]] = {}
        # Shared memo for checks (keys are tuples starting with the check's own name).
        self.cache: dict[tuple[object, ...], Any] = {}

    # ---- policies and rules -----------------------------------------------

    def policy(self, ref: PolicyRef) -> NormalizedPolicy | None:
        return self._by_ref.get(ref)

    def rules(self) -> Iterator[tuple[NormalizedPolicy, Rule]]:
        for policy in self.policies:
            for rule in policy.rules:
                yield policy, rule

    def locate(self, policy: NormalizedPolicy, path: PathKey) -> Location:
        """The location of a field of a policy (object-relative path)."""
        if policy.source is None:
            return policy.location
        return policy.source.location(path)

    # ---- inventory ----------------------------------------------------------

    @cached_property
    def _pods_by_cluster(self) -> dict[str, list[Endpoint]]:
        out: dict[str, list[Endpoint]] = {name: [] for name in self.world.clusters}
        for inv in self.world.clusters.values():
            for pod in inv.pods:
                if pod.kind is EndpointKind.POD:
                    out.setdefault(inv.name, []).append(pod)
        return out

    def pods(self, cluster: str | None = None) -> list[Endpoint]:
        """Pods (not host-network ones) of one cluster, or of every cluster."""
        if cluster is None:
            return [p for pods in self._pods_by_cluster.values() for p in pods]
        return self._pods_by_cluster.get(cluster, [])

    def has_pods(self, cluster: str | None = None) -> bool:
        return bool(self.pods(cluster))

    def nodes(self, cluster: str | None = None) -> list[Endpoint]:
        """Nodes and host-network pods (both are HOST endpoints)."""
        out: list[Endpoint] = []
        for inv in self.world.clusters.values():
            if cluster is None or inv.name == cluster:
                out.extend(inv.nodes)
                out.extend(p for p in inv.pods if p.kind is EndpointKind.HOST)
        return out

    def declares_namespaces(self, cluster: str) -> bool:
        """Whether the inputs hold Namespace objects (with their real labels)."""
        inv = self.world.clusters.get(cluster)
        return inv is not None and bool(inv.namespaces)

    def namespaces(self, cluster: str) -> dict[str, Labels]:
        """Namespaces declared in the inputs or implied by a pod, with their labels."""
        found = self._namespaces.get(cluster)
        if found is None:
            found = {}
            inv = self.world.clusters.get(cluster)
            if inv is not None:
                found = {name: Labels(labels) for name, labels in inv.namespaces.items()}
                for pod in inv.pods:
                    ns = pod.namespace or "default"
                    found.setdefault(ns, Labels({K8S_NAMESPACE_NAME_LABEL: ns}))
            self._namespaces[cluster] = found
        return found

    def selected(self, selector: EndpointSelector, cluster: str | None) -> list[Endpoint]:
        """The endpoints of the inputs a selector selects (pods or nodes, by its kinds).

        Uses the compiled engine's selector cache: endpoints of one class are
        indistinguishable to selectors.
        """
        scope = selector.cluster or cluster
        key = (selector, scope)
        found = self._selected.get(key)
        if found is None:
            members = self._class_members(scope)
            found = []
            for cid in sorted(self.engine.classes.selected(selector)):
                found.extend(members.get(cid, ()))
            self._selected[key] = found
        return found

    def class_of(self, endpoint: Endpoint) -> int:
        return self.engine.classes.class_of(endpoint)

    def _class_members(self, cluster: str | None) -> dict[int, list[Endpoint]]:
        found = self._groups.get(cluster)
        if found is None:
            found = {}
            for ep in self.pods(cluster) + self.nodes(cluster):
                found.setdefault(self.class_of(ep), []).append(ep)
            self._groups[cluster] = found
        return found

    # ---- the engine -------------------------------------------------------

    @cached_property
    def engine(self) -> CompiledEngine:
        return CompiledEngine(self.world)
