"""A Kubernetes API server in miniature: the behaviour the agent's backend relies on.

This is the test boundary of ``netwarden.agent.kubernetes`` (see
docs/design/agent-kubernetes.md); a real cluster (kind + Cilium) is the final check.
It speaks HTTP/1.1 JSON like kube-apiserver and implements, from the API conventions:

- discovery: ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>/<version>``;
- bearer-token authentication (401 otherwise);
- list with ``resourceVersion`` in ``metadata``, ``limit``/``continue`` pagination
  (a continue token older than the compaction point is ``410 Expired``), and
  ``labelSelector`` (``=``, ``==``, ``!=``, exists, ``!key``, ``in``, ``notin``) and
  ``fieldSelector`` (``metadata.name``, ``metadata.namespace``);
- watch (``?watch=true``) from a ``resourceVersion``: chunked newline-delimited
  events, ``BOOKMARK`` events when ``allowWatchBookmarks=true``, ``timeoutSeconds``,
  and an ``ERROR`` event with a 410 Status when the version was compacted away;
- server-side apply (``PATCH`` ``application/apply-patch+yaml``, ``fieldManager``,
  ``force``): create or update, field ownership per manager kept in
  ``metadata.managedFields``, fields a manager stops applying are removed, a
  ``409 Conflict`` when another manager owns a field with a different value and
  ``force`` is not set, no write (no new resourceVersion) when nothing changed;
- delete with a ``uid`` precondition (409 on mismatch), 404 for missing objects.

Tests drive it directly too: :meth:`FakeKube.put` writes as another client (an
"Update" manager, as ``kubectl create/edit`` does), :meth:`FakeKube.remove` deletes,
:meth:`FakeKube.drop_watches` cuts every open watch connection (optionally changing
objects and compacting while no watch is connected), :meth:`FakeKube.compact`
expires old versions.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

JSON = dict[str, Any]
FieldPath = tuple[str, ...]
Key = tuple[str, str, str]  # (resource path name "group/version/plural", namespace, name)


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def id(self) -> str:
        return f"{self.group_version}/{self.plural}"


CORE = [
    Resource("", "v1", "Namespace", "namespaces", False),
    Resource("", "v1", "Pod", "pods", True),
    Resource("", "v1", "Node", "nodes", False),
    Resource("", "v1", "Service", "services", True),
    Resource("", "v1", "ConfigMap", "configmaps", True),
]
NETWORK_POLICY = Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True)
CILIUM = [
    Resource("cilium.io", "v2", "CiliumNetworkPolicy", "ciliumnetworkpolicies", True),
    Resource(
        "cilium.io",
        "v2",
        "CiliumClusterwideNetworkPolicy",
        "ciliumclusterwidenetworkpolicies",
        False,
    ),
]
ADMIN = [
    Resource(
        "policy.networking.k8s.io", "v1alpha1", "AdminNetworkPolicy", "adminnetworkpolicies", False
    ),
    Resource(
        "policy.networking.k8s.io",
        "v1alpha1",
        "BaselineAdminNetworkPolicy",
        "baselineadminnetworkpolicies",
        False,
    ),
]
CLUSTER_NETWORK_POLICY = Resource(
    "policy.networking.k8s.io", "v1alpha2", "ClusterNetworkPolicy", "clusternetworkpolicies", False
)
# A cluster with Cilium but without the network-policy-api CRDs.
CILIUM_CLUSTER = [*CORE, NETWORK_POLICY, *CILIUM]


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> JSON:
        out: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            out["details"] = self.details
        return out


@dataclass
class Event:
    version: int
    resource: Resource
    type: str
    object: JSON


@dataclass
class Watcher:
    resource: Resource
    dropped: bool = False


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any = None
    status: int = 0  # the response's HTTP status


@dataclass
class Stored:
    object: JSON
    owners: dict[str, set[FieldPath]] = field(default_factory=dict)  # manager -> fields
    operations: dict[str, str] = field(default_factory=dict)  # manager -> Apply | Update


# --- label selectors ------------------------------------------------------------------------


def _split(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def label_matches(selector: str, labels: Mapping[str, str]) -> bool:
    for requirement in _split(selector):
        match = re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", requirement)
        if match:
            values = {v.strip() for v in match[3].split(",")}
            inside = labels.get(match[1]) in values
            if inside != (match[2] == "in"):
                return False
            continue
        match = re.fullmatch(r"([^!=\s]+)\s*(==|=|!=)\s*(\S*)", requirement)
        if match:
            equal = labels.get(match[1]) == match[3]
            if equal != (match[2] != "!="):
                return False
            continue
        if requirement.startswith("!"):
            if requirement[1:] in labels:
                return False
        elif requirement not in labels:
            return False
    return True


def field_matches(selector: str, obj: JSON) -> bool:
    meta = obj.get("metadata") or {}
    for requirement in _split(selector):
        name, _, value = requirement.partition("=")
        name = name.rstrip("=!")
        negate = "!=" in requirement
        field_name = {"metadata.name": "name", "metadata.namespace": "namespace"}.get(name)
        if field_name is None:
            raise ApiError(400, "BadRequest", f'field label not supported: "{name}"')
        if (meta.get(field_name, "") == value.lstrip("=")) == negate:
            return False
    return True


# --- field ownership (managedFields, simplified to leaf paths) ------------------------------


_IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
_SERVER_META = {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"}


def leaf_fields(obj: Any, prefix: FieldPath = ()) -> dict[FieldPath, Any]:
    """Leaf path -> value; lists are atomic (a leaf), as in most policy schemas."""
    out: dict[FieldPath, Any] = {}
    if isinstance(obj, dict) and (obj or not prefix):
        for key, value in obj.items():
            if prefix == ("metadata",) and key in _SERVER_META:
                continue
            if prefix == () and key == "status":
                continue
            out.update(leaf_fields(value, (*prefix, str(key))))
    elif prefix not in _IDENTITY:
        out[prefix] = obj
    return out


_MISSING = object()


def value_at(obj: Any, path: FieldPath) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def remove_at(obj: JSON, path: FieldPath) -> None:
    parents = [obj]
    for key in path[:-1]:
        child = parents[-1].get(key)
        if not isinstance(child, dict):
            return
        parents.append(child)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):  # drop maps emptied by the removal
        if parents[depth] or path[:depth] == ("metadata",):
            break
        parents[depth - 1].pop(path[depth - 1], None)


def merge(target: JSON, patch: JSON) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def fields_v1(paths: Iterable[FieldPath]) -> JSON:
    tree: JSON = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


def _spec_of(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


# --- the server -------------------------------------------------------------------------------


class FakeKube:
    def __init__(
        self,
        resources: Iterable[Resource] = (*CORE, NETWORK_POLICY, *CILIUM, *ADMIN),
        *,
        token: str = "test-token",
        bookmark_interval: float = 0.2,
    ) -> None:
        self.resources = list(resources)
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.version = 100
        self.floor = 0  # versions below this are compacted away
        self.objects: dict[Key, Stored] = {}
        self.events: list[Event] = []
        self.requests: list[Request] = []
        self.watchers: list[Watcher] = []
        self.cond = threading.Condition()
        self.stopping = False
        self._continues: dict[str, tuple[int, list[JSON]]] = {}
        handler = type("Handler", (_Handler,), {"fake": self})
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeKube:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.http.shutdown()
        self.http.server_close()
        self._thread.join(5)

    def kubeconfig(self, directory: Path, token: str | None = None) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "agent", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "agent"}}],
            "current-context": "fake",
        }
        path = directory / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path

    # --- what tests do directly -----------------------------------------------------------

    def resource(self, kind: str, api_version: str | None = None) -> Resource:
        for resource in self.resources:
            if resource.kind == kind and api_version in (None, resource.group_version):
                return resource
        raise KeyError(kind)

    def put(self, obj: JSON, manager: str = "kubectl") -> JSON:
        """Create or replace ``obj`` as another client would (an Update by ``manager``)."""
        resource = self.resource(obj["kind"], obj.get("apiVersion"))
        meta = obj["metadata"]
        with self.cond:
            key = (
                resource.id,
                meta.get("namespace", "") if resource.namespaced else "",
                meta["name"],
            )
            stored = self.objects.get(key)
            new = copy.deepcopy(obj)
            old_fields = leaf_fields(stored.object) if stored else {}
            changed = {p for p, v in leaf_fields(new).items() if old_fields.get(p, _MISSING) != v}
            owners = stored.owners if stored else {}
            for other in owners.values():
                other -= changed
            owners.setdefault(manager, set()).update(changed)
            operations = stored.operations if stored else {}
            operations[manager] = "Update"
            return self._write(resource, key, new, owners, operations, stored)

    def get(self, kind: str, namespace: str, name: str) -> JSON | None:
        resource = self.resource(kind)
        with self.cond:
            stored = self.objects.get((resource.id, namespace, name))
            return copy.deepcopy(stored.object) if stored else None

    def remove(self, kind: str, namespace: str, name: str) -> None:
        resource = self.resource(kind)
        with self.cond:
            self._delete(resource, (resource.id, namespace, name), None)

    def compact(self) -> None:
        """Expire every version before the current one (what etcd compaction does)."""
        with self.cond:
            self.floor = self.version
            self.events = []

    def drop_watches(self, meanwhile: Callable[[], None] | None = None) -> None:
        """Cut every open watch connection; ``meanwhile`` runs before any watch can
        reconnect (it may change objects and call :meth:`compact`)."""
        with self.cond:
            for watcher in self.watchers:
                watcher.dropped = True
            if meanwhile is not None:
                meanwhile()
            self.cond.notify_all()

    def watch_requests(self, plural: str) -> list[Request]:
        return [
            r
            for r in list(self.requests)
            if r.query.get("watch") == "true" and r.path.endswith(f"/{plural}")
        ]

    def open_watches(self, plural: str) -> int:
        with self.cond:
            return sum(1 for w in self.watchers if w.resource.plural == plural and not w.dropped)

    # --- storage (called with self.cond held) ---------------------------------------------

    def _write(
        self,
        resource: Resource,
        key: Key,
        new: JSON,
        owners: dict[str, set[FieldPath]],
        operations: dict[str, str],
        stored: Stored | None,
    ) -> JSON:
        owners = {m: f for m, f in owners.items() if f}
        operations = {m: operations[m] for m in owners}
        meta = new.setdefault("metadata", {})
        if stored is not None:
            old = stored.object
            old_meta = old["metadata"]
            unchanged = leaf_fields(old) == leaf_fields(new) and owners == stored.owners
            if unchanged:
                return copy.deepcopy(old)
            for name in ("uid", "creationTimestamp"):
                meta[name] = old_meta[name]
            generation = old_meta.get("generation", 1)
            meta["generation"] = generation + (_spec_of(old) != _spec_of(new))
        else:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            meta["generation"] = 1
        new["apiVersion"], new["kind"] = resource.group_version, resource.kind
        if resource.namespaced:
            meta["namespace"] = key[1]
        self.version += 1
        meta["resourceVersion"] = str(self.version)
        meta["managedFields"] = [
            {
                "manager": manager,
                "operation": operations[manager],
                "apiVersion": resource.group_version,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(paths),
            }
            for manager, paths in sorted(owners.items())
        ]
        self.objects[key] = Stored(new, owners, operations)
        self._event(resource, "MODIFIED" if stored else "ADDED", new)
        return copy.deepcopy(new)

    def _delete(self, resource: Resource, key: Key, uid: str | None) -> JSON:
        stored = self.objects.get(key)
        if stored is None:
            raise ApiError(404, "NotFound", f'{resource.plural} "{key[2]}" not found')
        actual = stored.object["metadata"]["uid"]
        if uid is not None and uid != actual:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{key[2]}": Precondition '
                f"failed: UID in precondition: {uid}, UID in object meta: {actual}",
            )
        del self.objects[key]
        gone = copy.deepcopy(stored.object)
        self.version += 1
        gone["metadata"]["resourceVersion"] = str(self.version)
        self._event(resource, "DELETED", gone)
        return gone

    def _event(self, resource: Resource, kind: str, obj: JSON) -> None:
        self.events.append(Event(self.version, resource, kind, copy.deepcopy(obj)))
        self.cond.notify_all()

    # --- requests ------------------------------------------------------------------------

    def discovery(self, path: str) -> JSON | None:
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        groups: dict[str, list[str]] = {}
        for r in self.resources:
            if r.group and r.version not in groups.setdefault(r.group, []):
                groups[r.group].append(r.version)
        if path == "/apis":
            listed = []
            for name, versions in groups.items():
                entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
                listed.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": listed}
        for group_version in ("v1", *(f"{g}/{v}" for g, vs in groups.items() for v in vs)):
            if path == ("/api/v1" if group_version == "v1" else f"/apis/{group_version}"):
                return {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": group_version,
                    "resources": [
                        {
                            "name": r.plural,
                            "singularName": r.kind.lower(),
                            "namespaced": r.namespaced,
                            "kind": r.kind,
                            "verbs": [
                                "create",
                                "delete",
                                "get",
                                "list",
                                "patch",
                                "update",
                                "watch",
                            ],
                        }
                        for r in self.resources
                        if r.group_version == group_version
                    ]
                    + [
                        {
                            "name": f"{r.plural}/status",
                            "namespaced": r.namespaced,
                            "kind": r.kind,
                            "verbs": ["get", "patch"],
                        }
                        for r in self.resources
                        if r.group_version == group_version
                    ],
                }
        return None

    def route(self, path: str) -> tuple[Resource, str, str]:
        """(resource, namespace, name) of a resource path."""
        for r in self.resources:
            prefix = "/api/v1/" if r.group_version == "v1" else f"/apis/{r.group_version}/"
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] == r.plural:
                if r.namespaced:
                    return r, parts[1], "/".join(parts[3:])
            elif parts[0] == r.plural and len(parts) <= 2:
                return r, "", parts[1] if len(parts) == 2 else ""
        raise ApiError(404, "NotFound", f"the server could not find the requested resource {path}")

    def list(self, resource: Resource, namespace: str, query: dict[str, str]) -> JSON:
        with self.cond:
            token = query.get("continue")
            if token:
                saved = self._continues.pop(token, None)
                if saved is None or saved[0] < self.floor:
                    raise ApiError(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display "
                        "a consistent list result. You can start a new list without the continue "
                        "parameter.",
                    )
                version, items = saved
            else:
                version = self.version
                items = [
                    copy.deepcopy(s.object)
                    for k, s in sorted(self.objects.items())
                    if self._selected(resource, namespace, k, s.object, query)
                ]
            limit = int(query.get("limit") or 0)
            meta: JSON = {"resourceVersion": str(version)}
            if limit and len(items) > limit:
                items, rest = items[:limit], items[limit:]
                next_token = uuid.uuid4().hex
                self._continues[next_token] = (version, rest)
                meta["continue"] = next_token
                meta["remainingItemCount"] = len(rest)
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.group_version,
            "metadata": meta,
            "items": items,
        }

    def _selected(
        self, resource: Resource, namespace: str, key: Key, obj: JSON, query: dict[str, str]
    ) -> bool:
        if key[0] != resource.id or (namespace and key[1] != namespace):
            return False
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if query.get("labelSelector") and not label_matches(query["labelSelector"], labels):
            return False
        return not (query.get("fieldSelector") and not field_matches(query["fieldSelector"], obj))

    def apply(
        self, resource: Resource, namespace: str, name: str, body: Any, query: dict[str, str]
    ) -> tuple[int, JSON]:
        manager = query.get("fieldManager")
        if not manager:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager:'
                " Required value: is required for apply patch",
            )
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise ApiError(400, "BadRequest", "apply patch must be an object with metadata")
        if (body.get("apiVersion"), body.get("kind")) != (resource.group_version, resource.kind):
            raise ApiError(
                400,
                "BadRequest",
                f"apiVersion/kind must be {resource.group_version}/{resource.kind}",
            )
        meta = body["metadata"]
        if meta.get("name") != name or (
            resource.namespaced and meta.get("namespace", namespace) != namespace
        ):
            raise ApiError(
                400, "BadRequest", "the name/namespace of the object does not match the URL"
            )
        force = query.get("force") == "true"
        with self.cond:
            if (
                resource.namespaced
                and (self.resource("Namespace").id, "", namespace) not in self.objects
            ):
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
            key = (resource.id, namespace, name)
            stored = self.objects.get(key)
            return self._apply(resource, key, body, manager, force, stored)

    def _apply(
        self,
        resource: Resource,
        key: Key,
        body: JSON,
        manager: str,
        force: bool,
        stored: Stored | None,
    ) -> tuple[int, JSON]:
        applied = leaf_fields(body)
        current = copy.deepcopy(stored.object) if stored else {"metadata": {}}
        owners = {m: set(f) for m, f in (stored.owners if stored else {}).items()}
        operations = dict(stored.operations) if stored else {}
        conflicts = sorted(
            (other, path)
            for other, paths in owners.items()
            if other != manager
            for path in paths & applied.keys()
            if value_at(current, path) != applied[path]
        )
        if conflicts and not force:
            lines = [
                f'conflict with "{m}" using {resource.group_version}: .{".".join(p)}'
                for m, p in conflicts
            ]
            count = f"{len(lines)} conflict{'s' if len(lines) > 1 else ''}"
            message = f"Apply failed with {count}: {'; '.join(lines)}"
            causes = [
                {"reason": "FieldManagerConflict", "message": line, "field": "." + ".".join(p)}
                for line, (_, p) in zip(lines, conflicts, strict=True)
            ]
            raise ApiError(
                409,
                "Conflict",
                message,
                {"name": key[2], "kind": resource.plural, "causes": causes},
            )
        for other, path in conflicts:
            owners[other].discard(path)
        previous = owners.get(manager, set())
        still_owned = set().union(*(f for m, f in owners.items() if m != manager))
        for path in previous - applied.keys() - still_owned:
            remove_at(current, path)
        merge(current, {k: v for k, v in body.items() if k != "status"})
        owners[manager] = set(applied)
        operations[manager] = "Apply"
        result = self._write(resource, key, current, owners, operations, stored)
        return (201 if stored is None else 200), result

    def delete(self, resource: Resource, namespace: str, name: str, body: Any) -> JSON:
        uid = None
        if isinstance(body, dict):
            uid = (body.get("preconditions") or {}).get("uid")
        with self.cond:
            self._delete(resource, (resource.id, namespace, name), uid)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "kind": resource.plural},
        }

    def watch(self, resource: Resource, namespace: str, query: dict[str, str]) -> Iterator[JSON]:
        """Events after ``resourceVersion`` (``""``/``"0"``: the current objects as ADDED
        events first), BOOKMARKs when idle, until ``timeoutSeconds`` or a drop."""
        start = query.get("resourceVersion") or "0"
        bookmarks = query.get("allowWatchBookmarks") == "true"
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        watcher = Watcher(resource)
        with self.cond:
            self.watchers.append(watcher)
            position = int(start) if start != "0" else self.version
            pending: list[JSON] = []
            if start == "0":
                pending = [
                    {"type": "ADDED", "object": copy.deepcopy(s.object)}
                    for k, s in sorted(self.objects.items())
                    if self._selected(resource, namespace, k, s.object, query)
                ]
        try:
            last_bookmark = time.monotonic()
            while True:
                yield from pending
                with self.cond:
                    pending, position, last_bookmark, done = self._next_events(
                        watcher, namespace, query, position, last_bookmark, bookmarks, deadline
                    )
                if done:
                    yield from pending
                    return
        finally:
            with self.cond:
                if watcher in self.watchers:
                    self.watchers.remove(watcher)

    def _next_events(
        self,
        watcher: Watcher,
        namespace: str,
        query: dict[str, str],
        position: int,
        last_bookmark: float,
        bookmarks: bool,
        deadline: float,
    ) -> tuple[list[JSON], int, float, bool]:
        """(events to send, new position, last bookmark time, end of the watch); waits a
        little when there is nothing to send. Called with ``self.cond`` held."""
        resource = watcher.resource
        if watcher.dropped or self.stopping:
            raise ConnectionAbortedError
        if position < self.floor:
            return [self._gone(str(position))], position, last_bookmark, True
        if time.monotonic() >= deadline:
            return [], position, last_bookmark, True
        pending = []
        for event in self.events:
            meta = event.object["metadata"]
            key = (resource.id, meta.get("namespace", ""), meta["name"])
            if (
                event.version > position
                and event.resource == resource
                and self._selected(resource, namespace, key, event.object, query)
            ):
                pending.append({"type": event.type, "object": event.object})
        position = self.version
        if not pending and bookmarks and time.monotonic() - last_bookmark >= self.bookmark_interval:
            last_bookmark = time.monotonic()
            pending = [
                {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": resource.kind,
                        "apiVersion": resource.group_version,
                        "metadata": {"resourceVersion": str(self.version)},
                    },
                }
            ]
        if not pending:
            self.cond.wait(min(self.bookmark_interval, 0.5))
        return pending, position, last_bookmark, False

    def _gone(self, start: str) -> JSON:
        error = ApiError(410, "Expired", f"too old resource version: {start} ({self.floor})")
        return {"type": "ERROR", "object": error.status()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeKube
    request_record: Request

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, document: JSON) -> None:
        self.request_record.status = code
        data = json.dumps(document).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return yaml.safe_load(raw) if raw else None

    def _handle(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = self._body()
        self.request_record = Request(method, parts.path, query, body)
        fake.requests.append(self.request_record)
        try:
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            document = fake.discovery(parts.path) if method == "GET" else None
            if document is not None:
                self._send(200, document)
                return
            resource, namespace, name = fake.route(parts.path)
            if method == "GET" and query.get("watch") == "true" and not name:
                self._stream(fake.watch(resource, namespace, query))
            elif method == "GET" and not name:
                self._send(200, fake.list(resource, namespace, query))
            elif method == "GET":
                found = fake.get(resource.kind, namespace, name)
                if found is None:
                    raise ApiError(404, "NotFound", f'{resource.plural} "{name}" not found')
                self._send(200, found)
            elif method == "PATCH" and name:
                if self.headers.get("Content-Type") != "application/apply-patch+yaml":
                    raise ApiError(415, "UnsupportedMediaType", "only apply patches are served")
                self._send(*fake.apply(resource, namespace, name, body, query))
            elif method == "DELETE" and name:
                self._send(200, fake.delete(resource, namespace, name, body))
            else:
                raise ApiError(405, "MethodNotAllowed", f"{method} {parts.path}")
        except ApiError as error:
            self._send(error.code, error.status())

    def _stream(self, events: Iterator[JSON]) -> None:
        self.request_record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                data = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionAbortedError, BrokenPipeError, ConnectionResetError):
            # Cut without the last chunk: the client sees the connection break.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")
