"""Contexts: which server and token the server commands use, kept like kubectl's.

The client configuration file is ``$NETWARDEN_CONFIG``, else
``$XDG_CONFIG_HOME/netwarden/config.yaml`` (``~/.config/netwarden/config.yaml``); it holds
named contexts (server, token, user, org) and the current one, and is written with mode
0600 because it holds tokens. ``netwarden login`` checks a token with ``GET /api/v1/me``
and stores a context; every server command takes ``--context`` and lets ``--server`` /
``--token`` (``NETWARDEN_API`` / ``NETWARDEN_TOKEN``) override it. A context's token is
only ever sent to that context's server.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml

from netwarden.cli import render
from netwarden.cli.offline import fail
from netwarden.client.http import ApiError, NetwardenClient

CONFIG_ENV = "NETWARDEN_CONFIG"
KIND = "Config"
API_VERSION = "netwarden.dev/v1"

ContextOpt = Annotated[
    str | None,
    typer.Option(
        "--context",
        envvar="NETWARDEN_CONTEXT",
        help="Context to use (default: the current one; see 'netwarden config').",
        rich_help_panel="Connection",
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="NETWARDEN_API",
        help="Netwarden server URL (overrides the context's).",
        rich_help_panel="Connection",
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="NETWARDEN_TOKEN",
        help="API token (overrides the context's).",
        rich_help_panel="Connection",
    ),
]


@dataclass
class Context:
    name: str
    server: str
    token: str
    user: str = ""
    org: str = ""


@dataclass
class Config:
    path: Path
    current: str | None = None
    contexts: dict[str, Context] = field(default_factory=dict)


def config_path() -> Path:
    given = os.environ.get(CONFIG_ENV)
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "netwarden" / "config.yaml"


def _not_ours(path: Path, why: str) -> NoReturn:
    fail(
        f"error: {path}: not a Netwarden client configuration ({why}); "
        f"point {CONFIG_ENV} at another file (netwarden serve reads its TOML settings "
        f"from {CONFIG_ENV} too)"
    )


def load_config() -> Config:
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"error: cannot read {path}: {exc}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        _not_ours(path, f"invalid YAML: {exc}")
    if data is None:
        return Config(path)
    if not isinstance(data, dict) or data.get("kind") != KIND:
        _not_ours(path, f"no 'kind: {KIND}'")
    return Config(path, data.get("current-context"), _contexts(path, data.get("contexts")))


def _contexts(path: Path, items: Any) -> dict[str, Context]:
    out: dict[str, Context] = {}
    for index, item in enumerate(items or []):
        try:
            context = Context(**{k: str(v) for k, v in item.items()})
        except (TypeError, AttributeError):
            fail(f"error: {path}: contexts[{index}]: expected name, server, token, user, org")
        out[context.name] = context
    return out


def save_config(config: Config) -> None:
    """Write atomically, readable by its owner only (it holds tokens)."""
    data = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "current-context": config.current,
        "contexts": [asdict(c) for c in config.contexts.values()],
    }
    text = yaml.safe_dump(data, sort_keys=False)
    path = config.path
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        fail(f"error: cannot write {path}: {exc}")


def same_server(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


@dataclass(frozen=True)
class Target:
    server: str
    token: str
    context: str | None


def resolve_target(context: str | None, server: str | None, token: str | None) -> Target:
    config = load_config()
    chosen = None
    if context is not None:
        chosen = config.contexts.get(context)
        if chosen is None:
            known = ", ".join(sorted(config.contexts)) or "none"
            fail(f"error: no context {context!r} in {config.path} (contexts: {known})")
    elif config.current is not None:
        chosen = config.contexts.get(config.current)
    url = server or (chosen.server if chosen else None)
    if url is None:
        fail(
            "error: no server: log in first (netwarden login --server URL --token TOKEN) "
            "or give --server and --token"
        )
    if token is None and chosen is not None and same_server(chosen.server, url):
        token = chosen.token
    if token is None:
        fail(f"error: no token for {url}: give --token (or NETWARDEN_TOKEN), or log in to it")
    return Target(url, token, chosen.name if chosen else None)


def connect(context: str | None, server: str | None, token: str | None) -> NetwardenClient:
    from netwarden.cli.preview import print_summary  # cli.preview imports this module

    target = resolve_target(context, server, token)
    client = NetwardenClient(target.server, target.token)
    client.on_preview = print_summary  # policy writes preview first: show what changes
    return client


@contextmanager
def session(
    context: str | None, server: str | None, token: str | None
) -> Iterator[NetwardenClient]:
    """A client for the chosen server; an API error ends the command (exit 2)."""
    client = connect(context, server, token)
    with client:
        try:
            yield client
        except ApiError as exc:
            fail(f"error: {client.base_url}: {exc}")


def flows_target(api: str | None, token: str | None) -> tuple[str, str | None]:
    """``netwarden flows``: ``--api``/``--token`` if given, else the context named by
    ``NETWARDEN_CONTEXT``, else the current one."""
    config = load_config()
    chosen = os.environ.get("NETWARDEN_CONTEXT") or config.current or ""
    current = config.contexts.get(chosen)
    if api is None:
        if current is None:
            fail(
                "error: give one source: --file (one or more), --server (Hubble Relay) or "
                "--api (or log in: netwarden login --server URL --token TOKEN)"
            )
        return current.server, token or current.token
    if token is None and current is not None and same_server(current.server, api):
        token = current.token
    return api, token


# --- commands ----------------------------------------------------------------------------


def login(
    server: Annotated[
        str, typer.Option("--server", envvar="NETWARDEN_API", help="Netwarden server URL.")
    ],
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="NETWARDEN_TOKEN",
            help="API token (asked for, hidden, when not given).",
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option("--context", help="Name of the context to store (default USER@HOST)."),
    ] = None,
) -> None:
    """Check a token against the server (GET /api/v1/me), store it as a context in the
    client configuration ($NETWARDEN_CONFIG, else
    $XDG_CONFIG_HOME/netwarden/config.yaml, written with mode 0600) and make that
    context current."""
    if token is None:
        token = typer.prompt("Token", hide_input=True)
    with NetwardenClient(server, token) as client:
        try:
            me = client.me()
        except ApiError as exc:
            fail(f"error: {server}: {exc}")
    host = server.split("://", 1)[-1].rstrip("/")
    name = context or f"{me['subject']}@{host}"
    config = load_config()
    config.contexts[name] = Context(name, server.rstrip("/"), token, me["subject"], me["org"])
    config.current = name
    save_config(config)
    typer.echo(f"Logged in to {server} as {me['subject']}; context {name!r} is current.")


config_app = typer.Typer(
    help="Client contexts (server and token), like kubectl config.", no_args_is_help=True
)


@config_app.command("get-contexts")
def get_contexts() -> None:
    """List the contexts; '*' marks the current one."""
    config = load_config()
    rows = [
        ["*" if c.name == config.current else "", c.name, c.server, c.user, c.org]
        for c in config.contexts.values()
    ]
    typer.echo(render.table(["CURRENT", "NAME", "SERVER", "USER", "ORG"], rows))


@config_app.command("use-context")
def use_context(name: Annotated[str, typer.Argument(help="Context name.")]) -> None:
    """Make a context the current one."""
    config = load_config()
    if name not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or "none"
        fail(f"error: no context {name!r} in {config.path} (contexts: {known})")
    config.current = name
    save_config(config)
    typer.echo(f"Switched to context {name!r}.")


@config_app.command("current-context")
def current_context() -> None:
    """Print the current context's name."""
    config = load_config()
    if config.current is None:
        fail(f"error: no current context in {config.path}: netwarden login first")
    typer.echo(config.current)


@config_app.command("delete-context")
def delete_context(name: Annotated[str, typer.Argument(help="Context name.")]) -> None:
    """Forget a context (and its token)."""
    config = load_config()
    if config.contexts.pop(name, None) is None:
        fail(f"error: no context {name!r} in {config.path}")
    if config.current == name:
        config.current = None
    save_config(config)
    typer.echo(f"Deleted context {name!r}.")


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.add_typer(config_app, name="config")
