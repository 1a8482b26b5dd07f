"""The one Settings object: the only reader of the environment (prefix O2O_)."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from o2o.errors import ConfigError

log = logging.getLogger("o2o.config")

PLACEHOLDER = "change-me"
#: A rate limit setting: COUNT/SECONDS, both positive.
RATE = r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$"
#: Secrets that must be real outside development; each maps to its env variable.
SECRET_FIELDS = {
    "wechat_token": "O2O_WECHAT_TOKEN",
    "wechat_aes_key": "O2O_WECHAT_AES_KEY",
    "wechat_appid": "O2O_WECHAT_APPID",
    "wechat_secret": "O2O_WECHAT_SECRET",
    "signing_key": "O2O_SIGNING_KEY",
    "customer_hash_key": "O2O_CUSTOMER_HASH_KEY",
}
#: Development values that are the same in every checkout: anyone can sign with them.
DEV_CONSTANTS = {"wechat_token": "o2o-dev-token", "wechat_appid": "wxo2odevelopment"}
#: Dev secrets generated per checkout and kept in `dev_secrets_file`: (file key, length).
DEV_STORED = {"wechat_aes_key": ("aes", 43), "wechat_secret": ("wechat_secret", 48),
              "signing_key": ("signing_key", 48),
              "customer_hash_key": ("customer_hash_key", 48)}


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
    #: Also accept plain (明文) pushes although an EncodingAESKey is set: only while the
    #: Official Account moves from 明文模式 to 兼容/安全模式. A plain push's signature does
    #: not cover its body, so one captured push URL could carry any message.
    wechat_accept_plaintext: bool = False
    wechat_appid: str = PLACEHOLDER
    wechat_secret: str = PLACEHOLDER
    wechat_timestamp_window_s: int = 300
    wechat_max_body_bytes: int = 64 * 1024
    wechat_news_articles: int = Field(5, ge=1, le=8)
    wechat_radius_m: int = 10_000
    #: WeChat's server API (token, JS-SDK ticket, OAuth, menu, subscribe messages); point it
    #: at `o2o simulate platform` for a demo. Timeout per attempt, retries on busy (-1)/network.
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_api_timeout_s: float = Field(3.0, gt=0, le=30)
    wechat_api_retries: int = Field(2, ge=0, le=5)
    #: OAuth (snsapi_base) on H5 pages opened in WeChat without a customer: WeChat's authorize
    #: host (a stand-in's for tests), how long the sealed customer session lasts, and how
    #: long after a failed round pages stay without one instead of trying again.
    wechat_oauth_base: str = "https://open.weixin.qq.com"
    wechat_oauth_session_ttl_s: int = Field(7 * 24 * 3600, ge=60, le=400 * 24 * 3600)
    wechat_oauth_retry_s: int = Field(600, ge=10, le=24 * 3600)
    #: The 一次性订阅消息 template id from the console (coupon reminders); empty: none sent.
    wechat_subscribe_template_id: str = ""
    #: WeChat's JS-SDK script, loaded by the H5 pages inside WeChat only (and the one
    #: script origin besides ours their CSP allows). Change it only to test.
    wechat_jssdk_url: str = Field("https://res.wx.qq.com/open/js/jweixin-1.6.0.js",
                                  pattern=r"^https?://[^/\s'\";]+/\S+$")
    #: Coupon reminders (only on consent): sent this many hours before the coupon expires;
    #: the job looks every `reminder_poll_s` (0: no thread, `o2o reminders run` only) and
    #: tries a send at most `reminder_attempts` times, `reminder_retry_s` apart, doubling.
    reminder_lead_h: float = Field(24.0, gt=0, le=24 * 30)
    reminder_poll_s: float = Field(60.0, ge=0, le=3600)
    reminder_attempts: int = Field(3, ge=1, le=10)
    reminder_retry_s: float = Field(60.0, ge=0, le=24 * 3600)
    #: How long a reply waits for its writes to commit before it is sent anyway (WeChat
    #: gives up after 5 s; the writes stay queued).
    wechat_write_wait_s: float = Field(1.0, ge=0, le=4)
    #: Group commit: how long the first queued write waits for others to share its
    #: transaction (more = fewer, larger commits; the reply waits this much longer).
    write_batch_delay_s: float = Field(0.002, ge=0, le=0.1)
    #: While the database is unavailable, reply rows go to a local journal (fsync'd) before
    #: the reply is sent, and are replayed when it returns. Off only to show what it saves.
    write_journal: bool = True
    #: This host's local state (the write journal, the last catalog snapshot). Default: next
    #: to an SQLite file (`o2o.db.state/`), else `~/.local/state/o2o/<database>-<hash>/`.
    state_dir: Path | None = None

    #: The chain's name as customers see it in chat and on the H5 pages.
    brand_name: str = "晨汐茶咖"

    #: Key from which customer links (H5 pages, coupons, click redirects) and the coupon
    #: cookie are sealed (AES-GCM, one HKDF-derived key per use).
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
    #: Abuse limits, each "COUNT/SECONDS" (a fixed window; shared through Redis when
    #: O2O_REDIS_URL is set, else per process): failed staff tokens per client IP; coupon
    #: look-ups and redemptions per staff member (guessing codes); H5 coupon claims per
    #: customer and per IP; typed searches per WeChat customer. See o2o/ratelimit.py.
    limit_token_failures_per_ip: str = Field("20/300", pattern=RATE)
    limit_coupon_tries_per_staff: str = Field("60/60", pattern=RATE)
    limit_claims_per_customer: str = Field("10/3600", pattern=RATE)
    limit_claims_per_ip: str = Field("60/3600", pattern=RATE)
    limit_searches_per_customer: str = Field("20/60", pattern=RATE)
    #: Migrate (and load the demo chain) when a worker starts; `o2o serve` does it once up
    #: front and turns it off for its workers.
    auto_migrate: bool = True
    #: Where development keeps the secrets it generates (0600), so restarts keep links valid.
    dev_secrets_file: Path = Path(".o2o-dev-secrets")

    #: Largest request body any route accepts, in bytes (routes may set their own:
    #: `wechat_max_body_bytes`, and after authentication `import_max_bytes`).
    max_body_bytes: int = Field(1024 * 1024, ge=0)
    import_max_bytes: int = Field(50 * 1024 * 1024, ge=0)
    #: Who may read /metrics: a Bearer token (empty: none accepted) and/or client addresses
    #: or networks, comma separated (empty: none). Default: this machine only.
    metrics_token: str = ""
    metrics_allow: str = "127.0.0.1,::1"

    @field_validator("wechat_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: str) -> str:
        if value not in ("", PLACEHOLDER) and len(value) != 43:
            raise ValueError("O2O_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
        return value

    @field_validator("metrics_allow")
    @classmethod
    def _metrics_allow_shape(cls, value: str) -> str:
        for entry in filter(None, (e.strip() for e in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"O2O_METRICS_ALLOW: {entry!r} is not an address or "
                                 "network (e.g. 10.0.0.0/8)") from None
        return value

    @property
    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(e.strip(), strict=False)
                for e in self.metrics_allow.split(",") if e.strip()]

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def state_path(self) -> Path:
        """Where this host keeps local state for this database (see `state_dir`)."""
        if self.state_dir is not None:
            return self.state_dir
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        database = url.database or ""
        if self.is_sqlite and database not in ("", ":memory:"):
            return Path(database).with_name(Path(database).name + ".state")
        digest = hashlib.sha1(url.render_as_string(hide_password=True).encode()).hexdigest()
        home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        return home / "o2o" / f"{Path(database).name or 'memory'}-{digest[:8]}"

    @property
    def previous_aes_keys(self) -> list[str]:
        return [k.strip() for k in self.wechat_previous_aes_keys.split(",") if k.strip()]

    def placeholder_secrets(self) -> list[str]:
        """Names of the env variables whose value is still missing or the placeholder."""
        return [env for field, env in SECRET_FIELDS.items() if getattr(self, field) in ("", PLACEHOLDER)]

    @property
    def public_dev_token(self) -> bool:
        """Is the WeChat token (or will development fill it with) the public development
        constant, with which anyone could sign pushes?"""
        return not self.is_production and \
            self.wechat_token in ("", PLACEHOLDER, DEV_CONSTANTS["wechat_token"])

    def checked(self) -> Settings:
        """Refuse placeholders in production; in development fill them and say how."""
        missing = self.placeholder_secrets()
        if not missing:
            return self
        if self.is_production:
            raise ConfigError(
                "Refusing to start in production: set real values for " + ", ".join(missing) + "."
            )
        fields = [f for f in SECRET_FIELDS if getattr(self, f) in ("", PLACEHOLDER)]
        filled = {f: DEV_CONSTANTS[f] for f in fields if f in DEV_CONSTANTS}
        stored, generated = _dev_secrets(self.dev_secrets_file,
                                         [DEV_STORED[f] for f in fields if f in DEV_STORED])
        filled |= {f: stored[DEV_STORED[f][0]] for f in fields if f in DEV_STORED}
        new = [SECRET_FIELDS[f] for f in fields if f in DEV_STORED and DEV_STORED[f][0] in generated]
        if new:
            log.warning("DEVELOPMENT MODE: generated throw-away secrets for %s (kept in %s); "
                        "set %s before going live", ", ".join(new), self.dev_secrets_file,
                        ", ".join(missing))
        else:
            log.debug("development mode: reusing development secrets from %s for %s",
                     self.dev_secrets_file, ", ".join(missing))
        return self.model_copy(update=filled)


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _dev_secrets(store: Path, wanted: list[tuple[str, int]]) -> tuple[dict[str, str], list[str]]:
    """The stored dev secrets (generating the missing ones) and the names generated now.

    The file is written under a new name created 0600 with O_EXCL, then renamed into place:
    never readable by others, not even for a moment; one found readable by others is
    narrowed to 0600. When it cannot be written the values still hold for this process:
    `o2o serve` hands them to its workers, so they never invent keys of their own.
    """
    values: dict[str, str] = {}
    if store.is_file():
        if store.stat().st_mode & 0o077:
            try:
                store.chmod(0o600)
            except OSError as exc:
                raise ConfigError(f"{store} is readable by others and cannot be narrowed to "
                                  f"0600 ({exc.strerror}): fix its mode or remove it.") from None
            log.warning("%s was readable by others; narrowed to 0600", store)
        values = dict(line.split("=", 1) for line in store.read_text().splitlines() if "=" in line)
    generated = [name for name, _ in wanted if name not in values]
    if not generated:
        return values, []
    for name, length in wanted:
        values.setdefault(name, "".join(secrets.choice(ALPHABET) for _ in range(length)))
    temp = store.with_name(f"{store.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in values.items()))
        os.replace(temp, store)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        log.warning("could not keep development secrets in %s (%s): they last as long as "
                    "this process and its workers", store, exc.strerror or exc)
    return values, generated


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated once."""
    return Settings().checked()
