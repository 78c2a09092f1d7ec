"""``netwarden serve``: settings, storage in a data directory, the app, uvicorn.

Settings come from ``NETWARDEN_*`` environment variables and, when given, a TOML config
file (``--config`` / ``NETWARDEN_SERVER_CONFIG``); environment wins. With no settings at all,
everything lives in ``./netwarden-data``: the control plane in SQLite, flows in DuckDB.
With ``gitops_repo`` set, the server follows that git repository
(:mod:`netwarden.client.gitops`) in a background thread, through its own API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from netwarden.api.app import create_app
from netwarden.api.auth import ControlPlaneAuthenticator
from netwarden.client.gitops import FollowSettings, GitFollower
from netwarden.control.blueprint_spec import read_spec
from netwarden.control.bootstrap import Bootstrap, bootstrap
from netwarden.control.db import Database, open_database, sqlite_url
from netwarden.control.gitops import gitops_identity
from netwarden.control.preview import DEFAULT_REQUIRED_SELECTOR, PreviewGate, load_secret
from netwarden.flows.duckdb_store import DuckDBFlowStore
from netwarden.flows.service import FlowService


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NETWARDEN_", extra="forbid")

    data_dir: Path = Field(Path("netwarden-data"), description="Where embedded storage lives.")
    database_url: str | None = Field(
        None, description="Control-plane database (default: SQLite in the data directory)."
    )
    flow_store: Path | None = Field(None, description="DuckDB flow store file.")
    host: str = "127.0.0.1"
    port: int = 8080
    org: str = Field("default", description="The first org's name (first start only).")
    config_file: Path | None = Field(None, description="A TOML file with these settings.")
    gitops_repo: str | None = Field(
        None, description="A git repository to follow (local path or URL); unset: no GitOps."
    )
    gitops_branch: str = Field("main", description="The branch whose commits are applied.")
    gitops_path: str = Field(".", description="The manifests' directory in the repository.")
    gitops_interval: float = Field(60.0, gt=0, description="Seconds between fetches.")
    gitops_prune: bool = Field(
        True, description="Delete the policies a commit no longer holds (as apply --prune)."
    )
    preview_required_selector: str = Field(
        DEFAULT_REQUIRED_SELECTOR,
        description=(
            "Clusters (label selector) whose policy writes need a preview token "
            "(X-Netwarden-Preview); empty: none."
        ),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = _config_path(init_settings)
        if config is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)

    def database(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "control.db")

    def flow_store_path(self) -> Path:
        return self.flow_store or self.data_dir / "flows.duckdb"

    def own_url(self) -> str:
        """How this server reaches its own API (the GitOps follower's requests)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


def _config_path(init: PydanticBaseSettingsSource) -> Path | None:
    import os

    given: Any = init().get("config_file") or os.environ.get("NETWARDEN_SERVER_CONFIG")
    return Path(given) if given else None


class Server:
    """Storage opened and the app built from settings (closed with ``close``)."""

    def __init__(self, settings: Settings) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.db: Database = open_database(settings.database())
        with self.db.session() as session:
            self.first_start: Bootstrap | None = bootstrap(session, settings.org)
        self.flows = FlowService(DuckDBFlowStore(settings.flow_store_path()))
        self.app: FastAPI = create_app(
            flow_service=self.flows,
            authenticator=ControlPlaneAuthenticator(self.db),
            db=self.db,
            preview_gate=PreviewGate(
                load_secret(settings.data_dir), settings.preview_required_selector
            ),
        )
        self.gitops = self._follower(settings)
        if self.gitops is not None:
            self.app.state.gitops = self.gitops
            self.app.router.add_event_handler("startup", self.gitops.start)
            self.app.router.add_event_handler("shutdown", self.gitops.stop)

    def _follower(self, settings: Settings) -> GitFollower | None:
        if not settings.gitops_repo:
            return None
        with self.db.session() as session:
            org_id, token = gitops_identity(session, settings.org)
        follow = FollowSettings(
            repo=settings.gitops_repo,
            branch=settings.gitops_branch,
            path=settings.gitops_path,
            interval=settings.gitops_interval,
            prune=settings.gitops_prune,
        )
        return GitFollower(
            follow,
            settings.data_dir / "gitops" / "mirror.git",
            base_url=settings.own_url(),
            token=token,
            org_id=org_id,
            read_blueprint=read_spec,
        )

    def close(self) -> None:
        if self.gitops is not None:
            self.gitops.stop()
        self.flows.store.close()
        self.db.close()
