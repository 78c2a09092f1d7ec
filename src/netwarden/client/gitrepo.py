"""The GitOps follower's copy of the followed repository (dulwich, no git binary).

A bare mirror in the server's data directory is created on first use, then each
:meth:`Mirror.fetch` brings the branch's new objects from the source (a local path or a
URL dulwich speaks: file, git, ssh, http(s)) and answers the branch head as a
:class:`Commit`. :meth:`Mirror.write_tree` writes one directory of a commit's tree to a
local directory, where the manifests are read exactly as ``netwarden apply -f DIR`` reads
them. Symbolic links and submodules are skipped: a repository may not point the server
at files outside it.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from dulwich.client import get_transport_and_path
from dulwich.object_store import iter_tree_contents, tree_lookup_path
from dulwich.objects import Commit as GitCommit
from dulwich.objects import ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo


class GitError(Exception):
    """The repository cannot be fetched or read (the message says why)."""


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    subject: str  # the first line of the message
    author: str
    time: datetime  # the commit time, UTC

    @property
    def short(self) -> str:
        return self.sha[:12]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "subject": self.subject,
            "author": self.author,
            "time": self.time.isoformat(),
        }


def source_location(source: str) -> str:
    """A local path made absolute (a fetch must not depend on the working directory);
    anything else (a URL) unchanged."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


class Mirror:
    def __init__(self, source: str, directory: Path) -> None:
        self.source = source_location(source)
        self.directory = directory

    def _repo(self) -> Repo:
        if (self.directory / "HEAD").exists():
            return Repo(str(self.directory))
        self.directory.mkdir(parents=True, exist_ok=True)
        return Repo.init_bare(str(self.directory))

    def fetch(self, branch: str) -> Commit:
        """Fetch ``branch`` from the source; its head commit."""
        ref = Ref(f"refs/heads/{branch}".encode())
        try:
            with self._repo() as repo:
                client, path = get_transport_and_path(self.source)

                def wants(refs: Any, depth: int | None = None) -> list[ObjectID]:
                    sha = refs.get(ref)
                    return [sha] if sha is not None and sha not in repo.object_store else []

                result = client.fetch(path, repo, determine_wants=wants)
                sha = result.refs.get(ref)
                if sha is None:
                    raise GitError(f"branch {branch!r} not found in {self.source}")
                repo.refs[Ref(f"refs/remotes/origin/{branch}".encode())] = sha
                return _commit(repo, sha)
        except GitError:
            raise
        except Exception as exc:  # dulwich's network, protocol and repository errors
            raise GitError(f"cannot fetch {branch!r} from {self.source}: {exc}") from exc

    def write_tree(self, sha: str, subdir: str, target: Path) -> int:
        """Write the regular files under ``subdir`` of commit ``sha`` into ``target``
        (keeping their paths relative to ``subdir``); how many were written."""
        with self._repo() as repo:
            commit = repo[ObjectID(sha.encode())]
            assert isinstance(commit, GitCommit)
            tree_id = commit.tree
            inner = PurePosixPath(subdir.strip("/") or ".")
            if str(inner) != ".":
                try:
                    mode, tree_id = tree_lookup_path(repo.__getitem__, tree_id, str(inner).encode())
                except KeyError:
                    raise GitError(f"{subdir} is not in commit {sha[:12]}") from None
                if not stat.S_ISDIR(mode):
                    raise GitError(f"{subdir} is not a directory in commit {sha[:12]}")
            written = 0
            for entry in iter_tree_contents(repo.object_store, tree_id):
                if entry.path is None or entry.mode is None or entry.sha is None:
                    continue
                if not stat.S_ISREG(entry.mode):
                    continue  # symbolic links, submodules
                relative = PurePosixPath(entry.path.decode("utf-8", "replace"))
                if relative.is_absolute() or ".." in relative.parts:
                    raise GitError(f"commit {sha[:12]} holds an unsafe path {relative}")
                blob = repo[entry.sha]
                out = target.joinpath(*relative.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(blob.as_raw_string())
                written += 1
            return written


def _commit(repo: Repo, sha: ObjectID) -> Commit:
    found = repo[sha]
    if not isinstance(found, GitCommit):
        raise GitError(f"{sha.decode()} is not a commit")
    message = found.message.decode("utf-8", "replace").strip()
    return Commit(
        sha=sha.decode(),
        subject=message.splitlines()[0] if message else "",
        author=found.author.decode("utf-8", "replace"),
        time=datetime.fromtimestamp(found.commit_time, UTC),
    )
