from __future__ import annotations

import logging
import os
import stat

import pytest

from o2o.config import PLACEHOLDER, Environment, Settings
from o2o.errors import ConfigError


def test_production_refuses_placeholder_secrets() -> None:
    s = Settings(env=Environment.PRODUCTION, wechat_token="real-token")
    with pytest.raises(ConfigError) as err:
        s.checked()
    message = str(err.value)
    assert message.startswith("Refusing to start in production")
    assert "O2O_WECHAT_SECRET" in message and "O2O_SIGNING_KEY" in message
    assert "O2O_WECHAT_TOKEN" not in message  # that one was set


def test_production_with_real_secrets_starts() -> None:
    s = Settings(env="production", wechat_token="t", wechat_aes_key="k" * 43,
                 wechat_appid="wx1", wechat_secret="s", signing_key="x" * 32,
                 customer_hash_key="y" * 32)
    assert s.checked() is s


def test_development_fills_placeholders_loudly(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="o2o.config"):
        s = Settings().checked()
    assert "DEVELOPMENT MODE" in caplog.text
    assert s.signing_key != PLACEHOLDER and len(s.signing_key) == 48
    assert len(s.wechat_aes_key) == 43
    # Stable across restarts in the same directory, so links signed earlier stay valid.
    assert Settings().checked().signing_key == s.signing_key


def test_aes_key_must_be_43_characters() -> None:
    with pytest.raises(ValueError, match="43-character"):
        Settings(wechat_aes_key="short")


def test_env_prefix(monkeypatch) -> None:
    monkeypatch.setenv("O2O_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("O2O_PREVIOUS", "ignored")
    monkeypatch.setenv("O2O_WECHAT_PREVIOUS_AES_KEYS", "a" * 43 + ", " + "b" * 43)
    s = Settings()
    assert s.database_url == "sqlite:///elsewhere.db"
    assert s.previous_aes_keys == ["a" * 43, "b" * 43]


def _mode(path) -> int:  # type: ignore[no-untyped-def]
    return stat.S_IMODE(path.stat().st_mode)


def test_dev_secrets_are_kept_readable_by_their_owner_only(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    old = os.umask(0)  # even a permissive umask never makes the file readable by others
    try:
        Settings().checked()
    finally:
        os.umask(old)
    assert _mode(tmp_path / ".o2o-dev-secrets") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".o2o-dev-secrets"]  # no temp left


def test_a_secrets_file_readable_by_others_is_narrowed_and_reused(tmp_path, monkeypatch,
                                                                  caplog) -> None:
    monkeypatch.chdir(tmp_path)
    first = Settings().checked()
    (tmp_path / ".o2o-dev-secrets").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="o2o.config"):
        again = Settings().checked()
    assert again.signing_key == first.signing_key
    assert _mode(tmp_path / ".o2o-dev-secrets") == 0o600 and "narrowed to 0600" in caplog.text


def test_a_restart_reuses_the_secrets_quietly(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="o2o.config"):
        Settings().checked()
    assert "generated throw-away secrets for O2O_WECHAT_AES_KEY, O2O_WECHAT_SECRET, " \
           "O2O_SIGNING_KEY, O2O_CUSTOMER_HASH_KEY" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="o2o.config"):
        Settings().checked()
    assert "generated" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    assert "reusing development secrets from .o2o-dev-secrets" in caplog.text
