"""The one Settings object: the only reader of the environment (prefix O2O_)."""

from __future__ import annotations

import contextlib
import logging
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from o2o.errors import ConfigError

log = logging.getLogger("o2o.config")

PLACEHOLDER = "change-me"
#: Secrets that must be real outside development; each maps to its env variable.
SECRET_FIELDS = {
    "wechat_token": "O2O_WECHAT_TOKEN",
    "wechat_aes_key": "O2O_WECHAT_AES_KEY",
    "wechat_appid": "O2O_WECHAT_APPID",
    "wechat_secret": "O2O_WECHAT_SECRET",
    "signing_key": "O2O_SIGNING_KEY",
    "customer_hash_key": "O2O_CUSTOMER_HASH_KEY",
}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Everything configurable. Read once; pass it around, never re-read os.environ."""

    model_config = SettingsConfigDict(env_prefix="O2O_", env_file=None, extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///./o2o.db"
    redis_url: str | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    log_format: str = Field("plain", pattern="^(plain|json)$")
    log_level: str = "INFO"

    wechat_token: str = PLACEHOLDER
    #: 43-character EncodingAESKey; empty means plain mode only.
    wechat_aes_key: str = PLACEHOLDER
    #: Earlier EncodingAESKeys (comma separated) that still decrypt during rotation.
    wechat_previous_aes_keys: str = ""
    wechat_appid: str = PLACEHOLDER
    wechat_secret: str = PLACEHOLDER
    wechat_timestamp_window_s: int = 300
    wechat_max_body_bytes: int = 64 * 1024
    wechat_news_articles: int = Field(5, ge=1, le=8)
    wechat_radius_m: int = 10_000
    #: How long a reply waits for its writes to commit before it is sent anyway (WeChat
    #: gives up after 5 s; the writes stay queued).
    wechat_write_wait_s: float = Field(1.0, ge=0, le=4)
    #: Group commit: how long the first queued write waits for others to share its
    #: transaction (more = fewer, larger commits; the reply waits this much longer).
    write_batch_delay_s: float = Field(0.002, ge=0, le=0.1)

    #: The chain's name as customers see it in chat and on the H5 pages.
    brand_name: str = "晨汐茶咖"

    #: Key for signing customer links (H5 pages, coupons, click redirects).
    signing_key: str = PLACEHOLDER
    link_ttl_s: int = 7 * 24 * 3600
    #: Key of the HMAC that pseudonymises openids in analytics.
    customer_hash_key: str = PLACEHOLDER

    #: How often each worker polls the catalog version (seconds).
    catalog_poll_s: float = 0.25
    location_ttl_s: int = 2 * 3600
    visit_window_s: int = 4 * 3600
    retention_days: int = 30
    #: Each worker's analytics maintenance: fold new events into funnel cells this often,
    #: and purge positions past `retention_days` this often (seconds).
    analytics_rollup_every_s: float = Field(300.0, gt=0)
    analytics_purge_every_s: float = Field(24 * 3600.0, gt=0)
    load_demo_data: bool = True

    #: Staff console: how long a one-time login link lives (minutes), how long a session
    #: survives without use (hours), and its absolute cap however busy (hours).
    login_link_ttl_min: int = Field(15, ge=1, le=7 * 24 * 60)
    console_session_idle_h: float = Field(12.0, gt=0)
    console_session_max_h: float = Field(7 * 24.0, gt=0)
    #: Sign-in attempts allowed per client IP, and per link, in each window (seconds).
    console_login_per_ip: int = Field(30, ge=1)
    console_login_per_link: int = Field(5, ge=1)
    console_login_window_s: int = Field(600, ge=1)
    #: Migrate (and load the demo chain) when a worker starts; `o2o serve` does it once up
    #: front and turns it off for its workers.
    auto_migrate: bool = True

    @field_validator("wechat_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: str) -> str:
        if value not in ("", PLACEHOLDER) and len(value) != 43:
            raise ValueError("O2O_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
        return value

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def previous_aes_keys(self) -> list[str]:
        return [k.strip() for k in self.wechat_previous_aes_keys.split(",") if k.strip()]

    def placeholder_secrets(self) -> list[str]:
        """Names of the env variables whose value is still missing or the placeholder."""
        return [env for field, env in SECRET_FIELDS.items() if getattr(self, field) in ("", PLACEHOLDER)]

    def checked(self) -> Settings:
        """Refuse placeholders in production; in development fill them and say so loudly."""
        missing = self.placeholder_secrets()
        if not missing:
            return self
        if self.is_production:
            raise ConfigError(
                "Refusing to start in production: set real values for " + ", ".join(missing) + "."
            )
        filled = {field: _dev_secret(field) for field in SECRET_FIELDS
                  if getattr(self, field) in ("", PLACEHOLDER)}
        log.warning(
            "DEVELOPMENT MODE: generated throw-away secrets for %s; set them before going live",
            ", ".join(missing),
        )
        return self.model_copy(update=filled)


def _dev_secret(field: str) -> str:
    """A development secret: stable per checkout for the WeChat fields, so the simulator works."""
    if field == "wechat_aes_key":
        return _stable("aes", 43)
    if field in ("wechat_token", "wechat_appid"):
        return {"wechat_token": "o2o-dev-token", "wechat_appid": "wxo2odevelopment"}[field]
    return _stable(field, 48)


def _stable(name: str, length: int) -> str:
    """Persist generated dev secrets in ./.o2o-dev-secrets so restarts keep links valid."""
    store = Path(".o2o-dev-secrets")
    values: dict[str, str] = {}
    if store.exists():
        values = dict(line.split("=", 1) for line in store.read_text().splitlines() if "=" in line)
    if name not in values:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        values[name] = "".join(secrets.choice(alphabet) for _ in range(length))
        with contextlib.suppress(OSError):
            store.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return values[name]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated once."""
    return Settings().checked()
