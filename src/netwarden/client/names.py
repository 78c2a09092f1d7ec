"""Names <-> ids, client-side: the API takes ids, people type names (and manifests).

A :class:`Names` reads each list route at most once per command (projects, workspaces,
clusters, a cluster's namespaces, users, the caller) and answers lookups both ways. Only
what the caller may read is listed, so "not found" also covers "not visible to you".
"""

from __future__ import annotations

from typing import Any

from netwarden.client.http import ApiError, NetwardenClient

Doc = dict[str, Any]


class NameNotFound(LookupError):
    """A name the caller cannot see (missing, or not visible to them)."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} not found (or not visible to you)")


class Names:
    def __init__(self, client: NetwardenClient) -> None:
        self.client = client
        self._lists: dict[str, list[Doc]] = {}
        self._namespaces: dict[str, list[Doc]] = {}
        self._me: Doc | None = None
        self.users_hidden = False  # the caller may not list users (no org role)

    def me(self) -> Doc:
        if self._me is None:
            self._me = self.client.me()
        return self._me

    def all(self, kind: str) -> list[Doc]:
        """Every object of ``kind`` the caller may read (users: [] without an org role)."""
        if kind not in self._lists:
            self._lists[kind] = self._fetch(kind)
        return self._lists[kind]

    def _fetch(self, kind: str) -> list[Doc]:
        if kind == "project":
            return self.client.list_projects()
        if kind == "workspace":
            return self.client.list_workspaces()
        if kind == "cluster":
            return self.client.list_clusters()
        if kind == "blueprint":
            return self.client.list_blueprints()
        if kind not in ("user", "group"):
            raise ValueError(f"no name lookup for kind {kind!r}")
        try:
            return self.client.list_groups() if kind == "group" else self.client.list_users()
        except ApiError as exc:
            if exc.status == 403:  # only role holders list users and groups
                self.users_hidden = True
                return []
            raise

    def find(self, kind: str, name: str) -> Doc | None:
        return next((d for d in self.all(kind) if d["name"] == name), None)

    def require(self, kind: str, name: str) -> Doc:
        found = self.find(kind, name)
        if found is None:
            raise NameNotFound(kind, name)
        return found

    def id_of(self, kind: str, name: str) -> str:
        found: str = self.require(kind, name)["id"]
        return found

    def name_of(self, kind: str, object_id: str | None) -> str:
        """The name of an id ("" for None; the id itself when it is not visible)."""
        if not object_id:
            return ""
        found = next((d for d in self.all(kind) if d["id"] == object_id), None)
        return str(found["name"]) if found is not None else object_id

    def namespaces(self, cluster_id: str) -> list[Doc]:
        if cluster_id not in self._namespaces:
            self._namespaces[cluster_id] = self.client.list_namespaces(cluster_id)
        return self._namespaces[cluster_id]
