"""A thin, typed seam over the official Kubernetes client: requests as plain data.

The ``kubernetes`` package (untyped) is used for what it does well: loading a
kubeconfig or the in-cluster service account (token rotation included), TLS, and
authenticated HTTP through ``ApiClient.call_api``. Everything above it deals in paths,
query pairs and JSON dicts, as a Kubernetes API server speaks them, so the backend can
be tested against a small HTTP server (``tests/agent/fake_kube.py``) and the requests
it sends are visible in one place. The untyped module is imported only here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import urllib3
from kubernetes import client as k8s_client  # type: ignore[import-untyped]
from kubernetes import config as k8s_config

JSON = dict[str, Any]
Query = Sequence[tuple[str, str]]

APPLY_PATCH = "application/apply-patch+yaml"  # the body is JSON, which is YAML
REQUEST_TIMEOUT = 30.0  # seconds, for every call except watches
CONNECT_TIMEOUT = 10.0


class KubeError(Exception):
    """An API call failed. ``status`` is the HTTP status (0: no answer), ``reason`` the
    Status reason (``Conflict``, ``NotFound``, ``Expired``...), ``str()`` one line."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class KubeUnavailable(KubeError):
    """No answer: connection refused or lost, a read timeout, a TLS failure."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Unavailable", message)


def error_from_status(status: int, reason: str, body: str | bytes | None) -> KubeError:
    """The error for a non-2xx answer, with the server's ``Status.message`` when it sent one."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    message = ""
    try:
        document = json.loads(text) if text else None
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("kind") == "Status":
        message = str(document.get("message") or "")
        reason = str(document.get("reason") or reason)
    if not message:
        message = text.strip().splitlines()[0] if text.strip() else reason
    return KubeError(status, reason or "", f"HTTP {status} {reason}: {message}")


# --- configuration ------------------------------------------------------------------------


class KubeConfigError(ValueError):
    """No usable kubeconfig or in-cluster service account."""


def load_client(kubeconfig: str | None, in_cluster: bool, context: str | None = None) -> Any:
    """An authenticated ``kubernetes.client.ApiClient``.

    ``in_cluster``: the pod's service account (token file re-read as the kubelet rotates
    it); otherwise ``kubeconfig`` (None: ``$KUBECONFIG`` or ``~/.kube/config``).
    Raises :class:`KubeConfigError` (a ValueError) when neither can be loaded.
    """
    configuration = k8s_client.Configuration()
    try:
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            k8s_config.load_kube_config(
                config_file=kubeconfig,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except k8s_config.ConfigException as exc:
        where = "in-cluster configuration" if in_cluster else f"kubeconfig {kubeconfig or ''}"
        raise KubeConfigError(f"{where.strip()}: {_first_line(exc)}") from None
    _mirror_bearer_token(configuration)
    # Several watches stay open at once beside the apply/list calls.
    configuration.connection_pool_maxsize = max(16, configuration.connection_pool_maxsize or 0)
    return k8s_client.ApiClient(configuration)


def _mirror_bearer_token(configuration: Any) -> None:
    """Work around kubernetes 36.0.0, whose config loaders store the token under
    ``api_key["authorization"]`` while its ``Configuration.auth_settings()`` only sends
    ``api_key["BearerToken"]`` (kubernetes-client/python#2584, fixed in 36.0.1 by #2585):
    without this every request goes out without credentials. The loaders' refresh hook
    (in-cluster token rotation, exec plugins) keeps writing the old key, so the copy is
    made again after each refresh. A no-op with a loader that writes ``BearerToken``."""
    api_key = configuration.api_key
    if "authorization" not in api_key:
        return
    api_key.setdefault("BearerToken", api_key["authorization"])
    refresh = configuration.refresh_api_key_hook
    if refresh is None:
        return

    def refresh_and_mirror(config: Any) -> None:
        refresh(config)
        if "authorization" in config.api_key:
            config.api_key["BearerToken"] = config.api_key["authorization"]

    configuration.refresh_api_key_hook = refresh_and_mirror


# --- requests -----------------------------------------------------------------------------


class KubeApi:
    """Plain-data calls to one API server through a ``kubernetes.client.ApiClient``."""

    def __init__(self, api_client: Any, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self._client = api_client
        self.timeout = timeout

    @property
    def host(self) -> str:
        return str(self._client.configuration.host)

    def _call(
        self,
        method: str,
        path: str,
        query: Query = (),
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            response = self._client.call_api(
                path,
                method,
                query_params=list(query),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout if timeout is not None else self.timeout,
            )
        except k8s_client.ApiException as exc:
            if not exc.status:  # the client's own failure (TLS), not an answer
                raise KubeUnavailable(f"{self.host}: {_first_line(exc.reason)}") from None
            raise error_from_status(int(exc.status), str(exc.reason or ""), exc.body) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeUnavailable(f"{self.host}: {_first_line(str(exc))}") from None
        return cast(urllib3.BaseHTTPResponse, response)

    def _json(self, response: urllib3.BaseHTTPResponse) -> JSON:
        try:
            data = response.data
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeUnavailable(f"{self.host}: {_first_line(str(exc))}") from None
        finally:
            response.release_conn()
        document = json.loads(data) if data else {}
        return document if isinstance(document, dict) else {}

    def get(self, path: str, query: Query = ()) -> JSON:
        return self._json(self._call("GET", path, query))

    def apply(self, path: str, body: Mapping[str, Any], field_manager: str, force: bool) -> JSON:
        """Server-side apply: ``PATCH`` with ``application/apply-patch+yaml``."""
        query = [("fieldManager", field_manager)]
        if force:
            query.append(("force", "true"))
        return self._json(self._call("PATCH", path, query, dict(body), APPLY_PATCH))

    def delete(self, path: str, uid: str | None = None) -> None:
        """Delete; with ``uid``, only that incarnation of the object (a precondition)."""
        body: JSON = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
        }
        if uid:
            body["preconditions"] = {"uid": uid}
        self._json(self._call("DELETE", path, (), body))

    def watch(self, path: str, query: Query, read_timeout: float) -> WatchStream:
        """A watch: newline-delimited ``{"type": ..., "object": ...}`` events."""
        response = self._call(
            "GET", path, [("watch", "true"), *query], timeout=(CONNECT_TIMEOUT, read_timeout)
        )
        return WatchStream(response, self.host)

    def close(self) -> None:
        self._client.close()
        self._client.rest_client.pool_manager.clear()  # the pooled connections' sockets


class WatchStream(Iterator[JSON]):
    """The events of one watch response; ``close()`` ends it from any thread.

    A lost connection or a read timeout raises :class:`KubeUnavailable`; the end of
    the response (the server's ``timeoutSeconds``) or ``close()`` ends the iteration.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse, host: str) -> None:
        self._response = response
        self._host = host
        self._lines = _lines(response.stream(None))
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def __next__(self) -> JSON:
        while True:
            try:
                line = next(self._lines)
            except StopIteration:
                self.close()
                raise
            # AttributeError: urllib3 reading a chunked body whose connection was
            # released under it (a close from another thread, a dropped connection).
            except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError) as exc:
                if self._closed.is_set():
                    raise StopIteration from None
                self.close()
                raise KubeUnavailable(
                    f"{self._host}: watch interrupted: {_first_line(str(exc))}"
                ) from None
            if self._closed.is_set():
                raise StopIteration
            if not line.strip():
                continue
            event = json.loads(line)
            if isinstance(event, dict):
                return event

    def close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            try:
                self._response.shutdown()  # wakes a reader blocked on the socket
            except (ValueError, RuntimeError, OSError):
                pass
            self._response.close()
            self._response.release_conn()


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending.strip():
        yield pending


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else type(text).__name__


# --- discovery ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiResource:
    """One served resource: ``group_version`` is ``v1`` for the core group."""

    group_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str = "", name: str = "") -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


def discover(api: KubeApi, groups: Iterable[str]) -> dict[tuple[str, str], ApiResource]:
    """``(apiVersion, kind) -> ApiResource`` for every served version of ``groups``
    (``""`` is the core group), from ``/api``, ``/apis`` and each group version."""
    wanted = set(groups)
    versions: list[str] = []
    if "" in wanted:
        versions.extend(str(v) for v in api.get("/api").get("versions", []))
    listed = api.get("/apis").get("groups", [])
    for group in listed:
        if group.get("name") in wanted:
            versions.extend(str(v.get("groupVersion")) for v in group.get("versions", []))
    found: dict[tuple[str, str], ApiResource] = {}
    for group_version in versions:
        path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        try:
            document = api.get(path)
        except KubeError as exc:
            if exc.status in (404, 503):  # an aggregated API that is down, a CRD going away
                continue
            raise
        for item in document.get("resources", []):
            name = str(item.get("name", ""))
            if not name or "/" in name:  # subresources: pods/log, .../status
                continue
            kind = str(item.get("kind", ""))
            found[group_version, kind] = ApiResource(
                group_version, kind, name, bool(item.get("namespaced"))
            )
    return found
