"""List-then-watch caches of Kubernetes objects (client-go's reflector, in small).

A :class:`Reflector` lists a resource (paginated), remembers the list's
``resourceVersion``, and watches from it with ``allowWatchBookmarks``; every event moves
the version forward (a BOOKMARK only moves the version). When the watch connection
ends or drops it watches again from the last version it saw, so no event is missed
or applied twice; when the server answers ``410 Gone`` (the version was compacted
away, as an ERROR event or as the HTTP status) it lists again and replaces the cache
in one swap. Readers get copies under a short lock: never a network call.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from netwarden.agent.kube_api import JSON, ApiResource, KubeApi, KubeError, Query

log = logging.getLogger(__name__)

T = TypeVar("T")
Key = tuple[str, str]  # (namespace, name)

PAGE_SIZE = 500
WATCH_TIMEOUT = 290  # seconds the server keeps one watch open (kubectl uses 5-10 minutes)


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between failed attempts: ``initial``, doubled, at most ``maximum``."""

    initial: float = 0.5
    maximum: float = 30.0

    def delay(self, failures: int) -> float:
        return float(min(self.maximum, self.initial * 2 ** max(0, failures - 1)))


@dataclass(slots=True)
class ReflectorStats:
    lists: int = 0  # full lists (the first, and each after a 410)
    relists_after_gone: int = 0
    watches: int = 0  # watch requests sent
    resumed: int = 0  # watches sent again from a remembered resourceVersion
    dropped: int = 0  # watch connections lost or failed requests
    events: int = 0
    bookmarks: int = 0
    last_error: str = ""


def object_key(obj: JSON) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Reflector(Generic[T]):
    """One resource kept in memory: ``transform(object)`` values by (namespace, name).

    ``transform`` keeps only what readers need (None: do not keep this object).
    ``field_selector``/``label_selector`` narrow both the list and the watch.
    """

    def __init__(
        self,
        api: KubeApi,
        resource: ApiResource,
        transform: Callable[[JSON], T | None],
        *,
        namespace: str = "",
        field_selector: str = "",
        label_selector: str = "",
        watch_timeout: int = WATCH_TIMEOUT,
        backoff: Backoff | None = None,
    ) -> None:
        self.api = api
        self.resource = resource
        self.transform = transform
        self.path = resource.path(namespace)
        self.selectors: list[tuple[str, str]] = []
        if field_selector:
            self.selectors.append(("fieldSelector", field_selector))
        if label_selector:
            self.selectors.append(("labelSelector", label_selector))
        self.watch_timeout = watch_timeout
        self.backoff = backoff or Backoff()
        self.resource_version = ""
        self.synced = threading.Event()  # set after the first successful list
        self.stats = ReflectorStats()
        self._items: dict[Key, T] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._from_list = False  # the next watch starts at a list's version

    # --- readers ------------------------------------------------------------------------

    def items(self) -> list[T]:
        with self._lock:
            return list(self._items.values())

    def get(self, namespace: str, name: str) -> T | None:
        with self._lock:
            return self._items.get((namespace, name))

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        name = f"netwarden-watch-{self.resource.plural}"
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if not self.resource_version:
                    self._list()
                self._watch()
                failures = 0
            except Gone:
                log.info(
                    "%s: resourceVersion %s expired; listing again",
                    self.path,
                    self.resource_version,
                )
                self.resource_version = ""
                self.stats.relists_after_gone += 1
            except KubeError as exc:
                failures += 1
                self.stats.dropped += 1
                self.stats.last_error = str(exc)
                log.warning("%s: %s (attempt %d)", self.path, exc, failures)
                self._stop.wait(self.backoff.delay(failures))

    # --- list and watch -----------------------------------------------------------------

    def _list(self) -> None:
        items: dict[Key, T] = {}
        token = ""
        while True:
            query: list[tuple[str, str]] = [*self.selectors, ("limit", str(PAGE_SIZE))]
            if token:
                query.append(("continue", token))
            try:
                page = self.api.get(self.path, query)
            except KubeError as exc:
                if exc.status == 410 and token:  # the continue token expired: start over
                    items, token = {}, ""
                    continue
                raise
            for obj in page.get("items") or []:
                value = self.transform(obj)
                if value is not None:
                    items[object_key(obj)] = value
            meta = page.get("metadata") or {}
            token = str(meta.get("continue") or "")
            if not token:
                break
        with self._lock:
            self._items = items
        self.resource_version = str(meta.get("resourceVersion") or "")
        self.stats.lists += 1
        self._from_list = True
        self.synced.set()

    def _watch(self) -> None:
        query: Query = [
            *self.selectors,
            ("resourceVersion", self.resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self.watch_timeout)),
        ]
        if not self._from_list:
            self.stats.resumed += 1
        try:
            stream = self.api.watch(self.path, query, read_timeout=self.watch_timeout + 30)
        except KubeError as exc:
            if exc.status == 410:
                raise Gone from None
            raise
        self.stats.watches += 1
        self._from_list = False
        with self._lock:
            if self._stop.is_set():
                stream.close()
                return
            self._stream = stream
        try:
            for event in stream:
                self._event(event)
        finally:
            with self._lock:
                self._stream = None
            stream.close()

    def _event(self, event: JSON) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410:
                raise Gone
            raise KubeError(code, str(obj.get("reason") or ""), str(obj.get("message") or ""))
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if kind == "BOOKMARK":
            self.stats.bookmarks += 1
        elif kind in ("ADDED", "MODIFIED", "DELETED"):
            key = object_key(obj)
            value = self.transform(obj) if kind != "DELETED" else None
            with self._lock:
                if value is None:
                    self._items.pop(key, None)
                else:
                    self._items[key] = value
            self.stats.events += 1
        else:
            return
        if version:
            self.resource_version = version
