from __future__ import annotations

import logging

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
