"""``netwarden serve``: settings, storage in a data directory, the app, uvicorn.

Settings come from ``NETWARDEN_*`` environment variables and, when given, a TOML config
file (``--config`` / ``NETWARDEN_SERVER_CONFIG``); environment wins. With no settings at all,
everything lives in ``./netwarden-data``: the control plane in SQLite, flows in DuckDB.
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
from netwarden.control.bootstrap import Bootstrap, bootstrap
from netwarden.control.db import Database, open_database, sqlite_url
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
        )

    def close(self) -> None:
        self.flows.store.close()
        self.db.close()
