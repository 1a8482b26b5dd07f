"""Pure-ASGI middleware: request ids, access logs without personal data, latency metrics."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from o2o.logs import request_id_var
from o2o.metrics import REQUEST_LATENCY

log = logging.getLogger("o2o.access")
#: Where the request id is kept on `request.state`.
REQUEST_ID = "request_id"


class RequestContext:
    """Assigns the server's own request id (what logs, error bodies and the audit log carry,
    and the X-Request-ID answered) and times the request. A client's X-Request-ID is only
    noted beside it in the access log: a caller must not choose the id of an audit entry."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        theirs = incoming if incoming.isascii() and 8 <= len(incoming) <= 64 and \
            incoming.replace("-", "").isalnum() else ""
        rid = uuid.uuid4().hex
        token = request_id_var.set(rid)
        # Also on the request's state: the handler of an unexpected exception runs outside
        # this middleware (after `request_id_var` is reset) and must still quote this id.
        scope.setdefault("state", {})[REQUEST_ID] = rid
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_LATENCY.labels(scope["method"], template, str(status["code"])).observe(elapsed)
            # The path template, never the query string: it may carry positions or tokens.
            log.info("%s %s %s %.1fms%s", scope["method"], template, status["code"],
                     elapsed * 1e3, f" (client id {theirs})" if theirs else "")
            request_id_var.reset(token)
