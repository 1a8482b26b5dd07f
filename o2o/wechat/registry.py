"""A registry of message/event handlers: adding the next event is one decorated function.

Handlers are plain functions `(message, ctx) -> Reply | None` (None means `success`).
WeChat's reply rules are enforced here, once, after every handler: a reply to a user's own
message carries at most one news article, an event reply up to eight, and the LOCATION
and unsubscribe events only ever get `success`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Generic, TypeVar

from o2o.wechat.parsing import Message
from o2o.wechat.replies import NewsReply, Reply, SuccessReply, render

log = logging.getLogger("o2o.wechat")

Ctx = TypeVar("Ctx")
Handler = Callable[[Message, Ctx], "Reply | None"]
Key = str | tuple[str, str]

#: Events WeChat lets a developer answer only with `success` (or whose user is gone).
SUCCESS_ONLY_EVENTS = frozenset({"location", "unsubscribe"})


def key_of(msg_type: str, event: str | None = None) -> Key:
    """Registry key: the message type, or ("event", name) for events (both lowercase)."""
    msg_type = msg_type.lower()
    if msg_type == "event":
        if not event:
            raise ValueError("an event handler needs the event name, e.g. on('event', 'click')")
        return ("event", event.lower())
    if event is not None:
        raise ValueError("only msg_type 'event' takes an event name")
    return msg_type


def _key(message: Message) -> Key:
    """The registry key a parsed message is looked up under."""
    return ("event", message.event or "") if message.is_event else message.msg_type


def enforce_reply_rules(reply: Reply | None, message: Message) -> Reply:
    """Apply WeChat's limits so no handler can produce a reply WeChat would refuse."""
    if reply is None or (message.is_event and message.event in SUCCESS_ONLY_EVENTS):
        return SuccessReply()
    if isinstance(reply, NewsReply) and len(reply.articles) > message.max_articles:
        log.warning("news reply to %s trimmed from %d to %d articles",
                    message.event or message.msg_type, len(reply.articles), message.max_articles)
        return replace(reply, articles=reply.articles[: message.max_articles])
    return reply


class Registry(Generic[Ctx]):
    """Maps message types and events to handlers; each app or test builds its own."""

    def __init__(self) -> None:
        self._handlers: dict[Key, Handler[Ctx]] = {}
        self._blocking: set[Key] = set()
        self._fallback: Handler[Ctx] | None = None

    def on(self, msg_type: str, event: str | None = None) -> Callable[[Handler[Ctx]], Handler[Ctx]]:
        """Decorator: `@registry.on("location")`, `@registry.on("event", "click")`."""
        key = key_of(msg_type, event)

        def decorate(handler: Handler[Ctx]) -> Handler[Ctx]:
            self.register(key, handler)
            return handler

        return decorate

    def register(self, key: Key, handler: Handler[Ctx], *, blocking: bool = False) -> None:
        """Register a handler; a second one for the same key is a mistake, not an override.
        `blocking` handlers wait on I/O (a database read), so the web layer runs them on a
        worker thread; the others answer from memory on the event loop."""
        key = key_of(*key) if isinstance(key, tuple) else key_of(key)
        if key in self._handlers:
            raise ValueError(f"a handler for {key!r} is already registered")
        self._handlers[key] = handler
        if blocking:
            self._blocking.add(key)

    def fallback(self, handler: Handler[Ctx]) -> Handler[Ctx]:
        """Decorator for the handler of anything unregistered (default: reply `success`)."""
        self._fallback = handler
        return handler

    def handler_for(self, message: Message) -> Handler[Ctx] | None:
        """The handler that would answer this message, if any."""
        return self._handlers.get(_key(message), self._fallback)

    def blocking(self, message: Message) -> bool:
        """Whether answering this message may wait on I/O (unknown handlers: assume so)."""
        key = _key(message)
        return key in self._blocking or (key not in self._handlers and
                                         self._fallback is not None)

    def keys(self) -> list[Key]:
        """Registered keys, for diagnostics and tests."""
        return list(self._handlers)

    def dispatch(self, message: Message, ctx: Ctx) -> Reply:
        """Run the matching handler and return its reply, within WeChat's reply rules."""
        handler = self.handler_for(message)
        reply = handler(message, ctx) if handler is not None else None
        return enforce_reply_rules(reply, message)

    def respond(self, message: Message, ctx: Ctx, *, now: float | None = None) -> str:
        """Dispatch and render the reply XML addressed back to the sender."""
        reply = self.dispatch(message, ctx)
        created = int(time.time() if now is None else now)
        return render(reply, to_user=message.from_user, from_user=message.to_user,
                      create_time=created, max_articles=message.max_articles)
