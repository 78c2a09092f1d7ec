"""The control-plane routes of the API as typed methods (mixed into ``NetwardenClient``).

Every method takes and returns the API's own shapes: ids for references, documents as
dictionaries. Resolving names to ids is the caller's business (the CLI does it from the
list routes, which return names and ids).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Doc = dict[str, Any]
PREVIEW_HEADER = "X-Netwarden-Preview"

# The kind of scope each role is bound over (the API's rbac.role_scope; a test keeps the
# two equal).
ROLE_SCOPES = {
    "org-admin": "org",
    "org-viewer": "org",
    "infra-admin": "project",
    "infra-viewer": "project",
    "project-admin": "project",
    "project-viewer": "project",
    "workspace-admin": "workspace",
    "workspace-viewer": "workspace",
}


def _items(found: Any) -> list[Doc]:
    items: list[Doc] = found["items"]
    return items


def _if_match(version: int | None) -> dict[str, str]:
    return {} if version is None else {"If-Match": f'"v{version}"'}


class ControlRoutes:
    """Methods over :meth:`json` / :meth:`send` (provided by the HTTP client).

    Policy writes preview their change first (``POST /clusters/{id}/preview``) and send
    the preview's token (``X-Netwarden-Preview``), which production clusters require;
    blueprint writes (create, change, delete, rollback, promote) likewise preview the
    blueprint change on the production clusters it reaches (``POST /blueprints/preview``).
    ``on_preview`` (when set) sees each cluster's preview document, e.g. to print its
    summary."""

    on_preview: Callable[[Doc], None] | None = None

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def send(self, method: str, path: str, **kwargs: Any) -> None:
        """A request whose answer has no body (204)."""
        raise NotImplementedError

    # --- the caller, projects, workspaces ----------------------------------------------

    def all_pages(self, path: str, params: Any = None) -> list[Doc]:
        """Every item of a paginated list (follows ``next``)."""
        base = list(params.items()) if isinstance(params, dict) else list(params or [])
        out: list[Doc] = []
        after: str | None = None
        while True:
            query = [*base, ("limit", "1000"), *([("after", after)] if after else [])]
            found = self.json("GET", path, params=query)
            out.extend(_items(found))
            after = found.get("next")
            if not after:
                return out

    def me(self) -> Doc:
        found: Doc = self.json("GET", "/api/v1/me")
        return found

    def list_projects(self) -> list[Doc]:
        return self.all_pages("/api/v1/projects")

    def create_project(self, name: str, description: str = "") -> Doc:
        body = {"name": name, "description": description}
        created: Doc = self.json("POST", "/api/v1/projects", json=body)
        return created

    def patch_project(self, project_id: str, changes: Doc) -> Doc:
        """``changes``: name and/or description."""
        changed: Doc = self.json("PATCH", f"/api/v1/projects/{project_id}", json=changes)
        return changed

    def delete_project(self, project_id: str) -> None:
        self.send("DELETE", f"/api/v1/projects/{project_id}")

    def list_workspaces(self) -> list[Doc]:
        return self.all_pages("/api/v1/workspaces")

    def create_workspace(self, name: str, project_id: str, description: str = "") -> Doc:
        body = {"name": name, "project": project_id, "description": description}
        created: Doc = self.json("POST", "/api/v1/workspaces", json=body)
        return created

    def patch_workspace(self, workspace_id: str, changes: Doc) -> Doc:
        """``changes``: name and/or description."""
        changed: Doc = self.json("PATCH", f"/api/v1/workspaces/{workspace_id}", json=changes)
        return changed

    def delete_workspace(self, workspace_id: str) -> None:
        """Refused (409) while namespaces are assigned to the workspace."""
        self.send("DELETE", f"/api/v1/workspaces/{workspace_id}")

    # --- clusters and namespaces -------------------------------------------------------

    def list_clusters(self, labels: dict[str, str] | None = None) -> list[Doc]:
        params = [("label", f"{k}={v}") for k, v in (labels or {}).items()]
        return self.all_pages("/api/v1/clusters", params)

    def create_cluster(self, body: Doc) -> Doc:
        """``body``: name, project (id), labels, policy_enforcement, enforcement_mode."""
        created: Doc = self.json("POST", "/api/v1/clusters", json=body)
        return created

    def patch_cluster(self, cluster_id: str, changes: Doc) -> Doc:
        changed: Doc = self.json("PATCH", f"/api/v1/clusters/{cluster_id}", json=changes)
        return changed

    def delete_cluster(self, cluster_id: str) -> None:
        self.send("DELETE", f"/api/v1/clusters/{cluster_id}")

    def list_namespaces(self, cluster_id: str) -> list[Doc]:
        return _items(self.json("GET", f"/api/v1/clusters/{cluster_id}/namespaces"))

    def put_namespace(
        self, cluster_id: str, name: str, labels: dict[str, str], workspace_id: str | None
    ) -> Doc:
        body = {"labels": labels, "workspace": workspace_id}
        path = f"/api/v1/clusters/{cluster_id}/namespaces/{name}"
        put: Doc = self.json("PUT", path, json=body)
        return put

    # --- users, tokens, role bindings, audit --------------------------------------------

    def list_users(self) -> list[Doc]:
        return _items(self.json("GET", "/api/v1/users"))

    def create_user(self, name: str, email: str = "") -> Doc:
        created: Doc = self.json("POST", "/api/v1/users", json={"name": name, "email": email})
        return created

    def patch_user(self, user_id: str, changes: Doc) -> Doc:
        """``changes``: name, email and/or disabled."""
        changed: Doc = self.json("PATCH", f"/api/v1/users/{user_id}", json=changes)
        return changed

    def delete_user(self, user_id: str) -> None:
        """Revokes the user's tokens, removes their bindings and memberships."""
        self.send("DELETE", f"/api/v1/users/{user_id}")

    def list_groups(self) -> list[Doc]:
        """Every group with its ``members`` (id, name)."""
        return _items(self.json("GET", "/api/v1/groups"))

    def get_group(self, group_id: str) -> Doc:
        found: Doc = self.json("GET", f"/api/v1/groups/{group_id}")
        return found

    def create_group(self, name: str) -> Doc:
        created: Doc = self.json("POST", "/api/v1/groups", json={"name": name})
        return created

    def rename_group(self, group_id: str, name: str) -> Doc:
        changed: Doc = self.json("PATCH", f"/api/v1/groups/{group_id}", json={"name": name})
        return changed

    def delete_group(self, group_id: str) -> None:
        """Removes its memberships and role bindings too."""
        self.send("DELETE", f"/api/v1/groups/{group_id}")

    def add_group_member(self, group_id: str, user_id: str) -> Doc:
        added: Doc = self.json("PUT", f"/api/v1/groups/{group_id}/members/{user_id}")
        return added

    def remove_group_member(self, group_id: str, user_id: str) -> None:
        self.send("DELETE", f"/api/v1/groups/{group_id}/members/{user_id}")

    def create_user_token(self, user_id: str, name: str = "", ttl_days: int | None = None) -> Doc:
        body = {"name": name, "ttl_days": ttl_days}
        created: Doc = self.json("POST", f"/api/v1/users/{user_id}/tokens", json=body)
        return created

    def create_agent_token(
        self, cluster_id: str, name: str = "", ttl_days: int | None = None
    ) -> Doc:
        """A token for the cluster's agent (the secret is in ``token``, shown once)."""
        body = {"name": name, "ttl_days": ttl_days}
        path = f"/api/v1/clusters/{cluster_id}/agent-tokens"
        created: Doc = self.json("POST", path, json=body)
        return created

    def revoke_token(self, token_id: str) -> None:
        self.send("DELETE", f"/api/v1/tokens/{token_id}")

    def list_bindings(self) -> list[Doc]:
        return _items(self.json("GET", "/api/v1/role-bindings"))

    def create_binding(self, subject_kind: str, subject: str, role: str, scope: str) -> Doc:
        body = {"subject_kind": subject_kind, "subject": subject, "role": role, "scope": scope}
        created: Doc = self.json("POST", "/api/v1/role-bindings", json=body)
        return created

    def delete_binding(self, binding_id: str) -> None:
        self.send("DELETE", f"/api/v1/role-bindings/{binding_id}")

    def audit(
        self, limit: int = 100, outcome: str | None = None, actor: str | None = None
    ) -> list[Doc]:
        params: dict[str, str | int] = {"limit": limit}
        if outcome:
            params["outcome"] = outcome
        if actor:
            params["actor"] = actor
        return _items(self.json("GET", "/api/v1/audit", params=params))

    # --- policies ----------------------------------------------------------------------

    def list_policies(
        self,
        cluster_id: str | None = None,
        namespace: str | None = None,
        kind: str | None = None,
        *,
        deleted: bool = False,
    ) -> list[Doc]:
        given = {"cluster": cluster_id, "namespace": namespace, "kind": kind}
        params: dict[str, str] = {k: v for k, v in given.items() if v is not None}
        if deleted:
            params["deleted"] = "true"
        return self.all_pages("/api/v1/policies", params)

    def get_policy(self, policy_id: str) -> Doc:
        """The policy with its current ``yaml`` (``version`` is its ETag's number)."""
        found: Doc = self.json("GET", f"/api/v1/policies/{policy_id}")
        return found

    def preview(
        self,
        cluster_id: str,
        *,
        yaml_text: str | None = None,
        delete_policy: str | None = None,
        blueprint_yaml: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Doc:
        """The impact preview of one draft change on a cluster's recorded traffic."""
        given = {
            "yaml": yaml_text,
            "delete_policy": delete_policy,
            "blueprint_yaml": blueprint_yaml,
            "since": since,
            "until": until,
        }
        body = {k: v for k, v in given.items() if v is not None}
        found: Doc = self.json("POST", f"/api/v1/clusters/{cluster_id}/preview", json=body)
        return found

    def previewed(self, cluster_id: str, **change: str) -> dict[str, str]:
        """Preview a change; the header that carries its token."""
        found = self.preview(cluster_id, **change)
        if self.on_preview is not None:
            self.on_preview(found)
        token = found["token"]
        return {str(token.get("header", PREVIEW_HEADER)): str(token["value"])}

    def create_policy(
        self, cluster_id: str, yaml_text: str, message: str = "", *, staged: bool = False
    ) -> Doc:
        body: Doc = {"yaml": yaml_text, "message": message}
        if staged:  # a staged version is not enforced: no preview needed
            body["staged"] = True
        headers = {} if staged else self.previewed(cluster_id, yaml_text=yaml_text)
        path = f"/api/v1/clusters/{cluster_id}/policies"
        created: Doc = self.json("POST", path, json=body, headers=headers)
        return created

    def update_policy(
        self,
        policy_id: str,
        yaml_text: str,
        message: str = "",
        version: int | None = None,
        *,
        staged: bool = False,
    ) -> Doc:
        """A new version, refused (412) when the policy is no longer at ``version``."""
        body: Doc = {"yaml": yaml_text, "message": message}
        path = f"/api/v1/policies/{policy_id}"
        headers = _if_match(version)
        if staged:  # a staged version is not enforced: no preview needed
            body["staged"] = True
        else:
            cluster = self.get_policy(policy_id)["cluster"]
            headers = {**headers, **self.previewed(cluster, yaml_text=yaml_text)}
        changed: Doc = self.json("PUT", path, json=body, headers=headers)
        return changed

    def delete_policy(self, policy_id: str, message: str = "", version: int | None = None) -> Doc:
        path = f"/api/v1/policies/{policy_id}"
        params = {"message": message} if message else {}
        cluster = self.get_policy(policy_id)["cluster"]
        headers = {**_if_match(version), **self.previewed(cluster, delete_policy=policy_id)}
        deleted: Doc = self.json("DELETE", path, params=params, headers=headers)
        return deleted

    def policy_versions(self, policy_id: str) -> list[Doc]:
        return _items(self.json("GET", f"/api/v1/policies/{policy_id}/versions"))

    def rollback_policy(
        self, policy_id: str, to: int, message: str = "", version: int | None = None
    ) -> Doc:
        body = {"version": to, "message": message}
        path = f"/api/v1/policies/{policy_id}/rollback"
        cluster = self.get_policy(policy_id)["cluster"]
        old = self.json("GET", f"/api/v1/policies/{policy_id}/versions/{to}")
        change = {"yaml_text": old["yaml"]} if old["yaml"] else {"delete_policy": policy_id}
        headers = {**_if_match(version), **self.previewed(cluster, **change)}
        rolled: Doc = self.json("POST", path, json=body, headers=headers)
        return rolled

    # --- blueprints ----------------------------------------------------------------------

    def list_blueprints(self) -> list[Doc]:
        return self.all_pages("/api/v1/blueprints")

    def get_blueprint(self, blueprint_id: str) -> Doc:
        """The blueprint with its current ``yaml`` (``version`` is its ETag's number)."""
        found: Doc = self.json("GET", f"/api/v1/blueprints/{blueprint_id}")
        return found

    def preview_blueprint(
        self,
        *,
        blueprint_yaml: str | None = None,
        delete_blueprint: str | None = None,
        project: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Doc:
        """The impact preview of a blueprint change on every production cluster it
        reaches (``clusters``: one preview each) and the token of that change."""
        given = {
            "blueprint_yaml": blueprint_yaml,
            "delete_blueprint": delete_blueprint,
            "project": project,
            "since": since,
            "until": until,
        }
        body = {k: v for k, v in given.items() if v is not None}
        found: Doc = self.json("POST", "/api/v1/blueprints/preview", json=body)
        return found

    def blueprint_previewed(self, **change: str | None) -> dict[str, str]:
        """Preview a blueprint change; the header that carries its token."""
        found = self.preview_blueprint(**change)
        if self.on_preview is not None:
            for doc in found.get("clusters", []):
                self.on_preview(doc)
        token = found["token"]
        return {str(token.get("header", PREVIEW_HEADER)): str(token["value"])}

    def create_blueprint(
        self, yaml_text: str, message: str, project_id: str | None, *, staged: bool = False
    ) -> Doc:
        body: Doc = {"yaml": yaml_text, "message": message, "project": project_id}
        headers: dict[str, str] = {}
        if staged:  # a staged version is not enforced: no preview needed
            body["staged"] = True
        else:
            headers = self.blueprint_previewed(blueprint_yaml=yaml_text, project=project_id)
        created: Doc = self.json("POST", "/api/v1/blueprints", json=body, headers=headers)
        return created

    def update_blueprint(
        self,
        blueprint_id: str,
        yaml_text: str,
        message: str,
        version: int | None,
        *,
        staged: bool = False,
    ) -> Doc:
        body: Doc = {"yaml": yaml_text, "message": message}
        headers = _if_match(version)
        if staged:  # a staged version is not enforced: no preview needed
            body["staged"] = True
        else:
            headers = {**headers, **self.blueprint_previewed(blueprint_yaml=yaml_text)}
        path = f"/api/v1/blueprints/{blueprint_id}"
        updated: Doc = self.json("PUT", path, json=body, headers=headers)
        return updated

    def delete_blueprint(
        self, blueprint_id: str, message: str = "", version: int | None = None
    ) -> Doc:
        """Delete a blueprint (a version with no YAML), previewed first."""
        params = {"message": message} if message else {}
        preview = self.blueprint_previewed(delete_blueprint=blueprint_id)
        headers = {**_if_match(version), **preview}
        path = f"/api/v1/blueprints/{blueprint_id}"
        deleted: Doc = self.json("DELETE", path, params=params, headers=headers)
        return deleted

    def rollback_blueprint(
        self, blueprint_id: str, to: int, message: str = "", version: int | None = None
    ) -> Doc:
        """A new version with version ``to``'s YAML, previewed first as that YAML (a
        deletion when ``to`` was a deletion)."""
        old = self.json("GET", f"/api/v1/blueprints/{blueprint_id}/versions")
        text = next((v["yaml"] for v in _items(old) if v["version"] == to), None)
        change = {"blueprint_yaml": text} if text else {"delete_blueprint": blueprint_id}
        headers = {**_if_match(version), **self.blueprint_previewed(**change)}
        body = {"version": to, "message": message}
        path = f"/api/v1/blueprints/{blueprint_id}/rollback"
        rolled: Doc = self.json("POST", path, json=body, headers=headers)
        return rolled

    def promote(self, kind: str, object_id: str, hours: float, message: str = "") -> Doc:
        """Promote a staged policy or blueprint (``kind``: ``policies`` / ``blueprints``).
        A blueprint's promotion releases its staged YAML: previewed first."""
        body = {"hours": hours, "message": message}
        headers: dict[str, str] = {}
        if kind == "blueprints":
            staged = self.get_blueprint(object_id)
            if staged.get("yaml"):
                headers = self.blueprint_previewed(blueprint_yaml=staged["yaml"])
        path = f"/api/v1/{kind}/{object_id}/promote"
        promoted: Doc = self.json("POST", path, json=body, headers=headers)
        return promoted

    def blueprint_versions(self, blueprint_id: str) -> list[Doc]:
        return _items(self.json("GET", f"/api/v1/blueprints/{blueprint_id}/versions"))

    # --- GitOps --------------------------------------------------------------------------

    def gitops_status(self) -> Doc:
        found: Doc = self.json("GET", "/api/v1/gitops")
        return found

    def gitops_sync(self) -> Doc:
        """Ask the server to sync now (answers at once; the sync runs in the background)."""
        found: Doc = self.json("POST", "/api/v1/gitops/sync")
        return found

    def desired_state(self, cluster_id: str) -> Doc:
        found: Doc = self.json("GET", f"/api/v1/clusters/{cluster_id}/desired-state")
        return found
