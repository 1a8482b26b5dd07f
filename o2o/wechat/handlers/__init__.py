"""The business handlers behind the Official Account, registered by message type."""

from __future__ import annotations

from o2o.wechat.context import HandlerContext
from o2o.wechat.registry import Registry


def build_registry() -> Registry[HandlerContext]:
    """A registry with every handler; each module adds its own in `register`."""
    from o2o.wechat.handlers import account, location, reminders, text

    registry: Registry[HandlerContext] = Registry()
    for module in (location, account, text, reminders):
        module.register(registry)
    return registry
