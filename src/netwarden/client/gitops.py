"""GitOps: the server follows a git repository and applies each new commit.

A :class:`GitFollower` applies a commit exactly as ``netwarden apply -f DIR --prune``
would: the same manifest reader (located errors), the same plan and the same HTTP API,
as a dedicated identity (user ``gitops``), so authorization, versions, ETags and the
audit log apply unchanged and GitOps has no privilege of its own. Every request of a
sync carries the commit (``X-Netwarden-Git-Commit``), which the server records on each
version it creates and on each audit entry; version messages read
``gitops: <short sha> <subject>``.

A sync: fetch the branch head (:mod:`netwarden.client.gitrepo`); write the commit's
``path`` directory to a temporary directory; read every manifest there; plan against the
server; stop with the located errors when the manifests or the plan have any (nothing is
applied, the last good commit is kept); else run the plan's steps. A head already synced
is skipped unless the sync is forced (``POST /api/v1/gitops/sync``). The background
thread syncs every ``interval`` seconds and when asked to.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from netwarden.client.gitrepo import Commit, GitError, Mirror
from netwarden.client.http import ApiError, NetwardenClient
from netwarden.client.manifests import BlueprintReader, load_manifests
from netwarden.client.names import Names
from netwarden.client.planning import StepFailed, build_plan, execute, summary
from netwarden.model.diagnostics import Diagnostic, Location

GIT_COMMIT_HEADER = "X-Netwarden-Git-Commit"
READY_TIMEOUT = 30.0  # seconds the thread waits for the server to answer before syncing

_log = logging.getLogger("netwarden.gitops")
Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FollowSettings:
    repo: str  # a local path or a URL
    branch: str = "main"
    path: str = "."  # the manifests' directory inside the repository
    interval: float = 60.0  # seconds between fetches
    prune: bool = True


@dataclass
class Attempt:
    """One sync: when, which commit, what came of it."""

    at: datetime
    commit: Commit | None = None
    state: str = "failed"  # synced | failed
    errors: list[Doc] = field(default_factory=list)
    warnings: list[Doc] = field(default_factory=list)
    records: list[Doc] = field(default_factory=list)  # the plan's steps as run
    skipped: bool = False  # the head was synced already: nothing was planned

    def to_dict(self) -> Doc:
        return {
            "at": self.at.isoformat(),
            "commit": self.commit.to_dict() if self.commit is not None else None,
            "state": self.state,
            "skipped": self.skipped,
        }


def message_of(commit: Commit) -> str:
    """The message of every version a commit makes."""
    return f"gitops: {commit.short} {commit.subject[:200]}".rstrip()


class GitFollower:
    def __init__(
        self,
        settings: FollowSettings,
        mirror_dir: Path,
        *,
        base_url: str,
        token: str,
        org_id: str,
        read_blueprint: BlueprintReader,
    ) -> None:
        self.settings = settings
        self.mirror = Mirror(settings.repo, mirror_dir)
        self.base_url = base_url
        self.org_id = org_id  # the org it applies to (its identity's)
        self._token = token
        self._read_blueprint = read_blueprint
        self._sync_lock = threading.Lock()  # one sync at a time
        self._state_lock = threading.Lock()  # guards the fields below
        self._synced: tuple[Commit, datetime] | None = None  # the last good commit
        self._last: Attempt | None = None
        self._attempts = 0
        self._wake = threading.Event()
        self._forced = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- status ---------------------------------------------------------------------------

    def status(self) -> Doc:
        with self._state_lock:
            last, synced, attempts = self._last, self._synced, self._attempts
        state = "pending" if last is None else last.state
        return {
            "state": state,
            "repo": self.settings.repo,
            "branch": self.settings.branch,
            "path": self.settings.path,
            "interval": self.settings.interval,
            "prune": self.settings.prune,
            "last_synced": (
                {**synced[0].to_dict(), "synced_at": synced[1].isoformat()}
                if synced is not None
                else None
            ),
            "last_attempt": last.to_dict() if last is not None else None,
            "attempts": attempts,
            "errors": list(last.errors) if last is not None else [],
            "warnings": list(last.warnings) if last is not None else [],
            "plan": summary(last.records) if last is not None else {},
            "changes": [r for r in last.records if r["action"] != "unchanged"] if last else [],
        }

    # --- one sync -------------------------------------------------------------------------

    def sync(self, force: bool = False) -> Doc:
        """Fetch and apply the branch head now (skipped when it is the commit synced last,
        unless ``force``); the status after it."""
        with self._sync_lock:
            attempt = self._attempt(force)
            with self._state_lock:
                self._attempts += 1
                self._last = attempt
                if attempt.state == "synced" and attempt.commit is not None:
                    if not attempt.skipped:
                        self._synced = (attempt.commit, attempt.at)
            if attempt.state == "failed":
                _log.warning("gitops sync failed: %s", attempt.errors)
        return self.status()

    def _attempt(self, force: bool) -> Attempt:
        attempt = Attempt(at=datetime.now(UTC))
        try:
            attempt.commit = self.mirror.fetch(self.settings.branch)
        except GitError as exc:
            attempt.errors = [_error(str(exc), "git")]
            return attempt
        with self._state_lock:
            synced = self._synced
        if not force and synced is not None and synced[0].sha == attempt.commit.sha:
            attempt.state, attempt.skipped = "synced", True
            return attempt
        with tempfile.TemporaryDirectory(prefix="netwarden-gitops-") as tmp:
            self._apply(attempt, attempt.commit, Path(tmp))
        return attempt

    def _apply(self, attempt: Attempt, commit: Commit, root: Path) -> None:
        try:
            self.mirror.write_tree(commit.sha, self.settings.path, root)
        except GitError as exc:
            attempt.errors = [_error(str(exc), "git")]
            return
        loaded = load_manifests([str(root)], self._read_blueprint)
        if loaded.errors:
            attempt.errors = [self._located(d, root) for d in loaded.errors]
            return
        if not loaded.resources:
            where = f"{self.settings.path} of commit {commit.short}"
            attempt.errors = [_error(f"no objects to apply in {where}", "empty")]
            return
        headers = {GIT_COMMIT_HEADER: commit.sha}
        try:
            with NetwardenClient(self.base_url, self._token, headers=headers) as client:
                plan = build_plan(
                    Names(client), loaded.resources, self.settings.prune, message_of(commit)
                )
                attempt.warnings = [self._located(d, root) for d in plan.warnings]
                if plan.errors:
                    attempt.errors = [self._located(d, root) for d in plan.errors]
                    return
                attempt.records = execute(plan, dry_run=False, on_step=None)
        except StepFailed as exc:
            attempt.records = exc.records
            step_at = exc.step.location
            error = _error(f"{exc.step.label}: {exc.error}", "apply")
            attempt.errors = [self._at(error, step_at, root) if step_at is not None else error]
            return
        except ApiError as exc:
            attempt.errors = [_error(str(exc), "api")]
            return
        attempt.state = "synced"

    def _located(self, d: Diagnostic, root: Path) -> Doc:
        return self._at(_error(d.message, d.code), d.location, root)

    def _at(self, error: Doc, where: Location, root: Path) -> Doc:
        """The error with its file as a path in the repository (not the temporary copy)."""
        file = where.file
        try:
            inside = Path(file).resolve().relative_to(root.resolve())
        except ValueError:
            pass
        else:
            file = str(PurePosixPath(self.settings.path.strip("/") or ".") / inside.as_posix())
            file = file.removeprefix("./")
        located = replace(where, file=file)
        return {**error, "file": located.file, "line": located.line, "field": located.path}

    # --- the background thread ------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="netwarden-gitops", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def request_sync(self) -> None:
        """Sync as soon as possible, even if the head was synced already."""
        self._forced = True
        self._wake.set()

    def _run(self) -> None:
        self._wait_ready()
        while not self._stop.is_set():
            force, self._forced = self._forced, False
            self._wake.clear()
            try:
                self.sync(force)
            except Exception:  # a bug must not end the thread: log it, try again later
                _log.exception("gitops sync crashed")
            self._wake.wait(self.settings.interval)

    def _wait_ready(self) -> None:
        """Wait until the server answers (it starts listening after this thread starts)."""
        deadline = time.monotonic() + READY_TIMEOUT
        with NetwardenClient(self.base_url, None, timeout=2.0) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    client.request("GET", "/healthz")
                    return
                except ApiError:
                    self._stop.wait(0.2)


def _error(message: str, code: str) -> Doc:
    return {"file": None, "line": None, "field": None, "message": message, "code": code}
