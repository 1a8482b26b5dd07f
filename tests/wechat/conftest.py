"""WeChat tests: the suite's settings, with O2O_WECHAT_ACCEPT_PLAINTEXT as a parameter."""

from __future__ import annotations

import pytest

from o2o.config import Settings


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Off unless a test parametrizes `settings` indirectly with True (a migration's setting)."""
    accept = getattr(request, "param", False)
    return settings.model_copy(update={"wechat_accept_plaintext": accept})
