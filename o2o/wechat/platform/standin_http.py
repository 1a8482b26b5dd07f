"""`StandIn` over HTTP (http.server, a thread per request): the API paths as WeChat serves
them, `/connect/oauth2/authorize` as its redirect, and `/_standin/...` to steer it.

Control endpoints (JSON): GET calls; POST fail {"mode","times","delay_s"}, recover,
code {"openid"}, consent {"openid","template_id","scene"}, replace-token.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from o2o.wechat.platform.standin import Drop, StandIn
from o2o.wechat.simulator import OPENID

log = logging.getLogger("o2o.wechat.standin")


def make_server(standin: StandIn, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to (host, port) (0: a free port); `serve_forever()` to run it."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if url.path.startswith("/_standin/"):
                self._send(*_control(standin, method, url.path, body))
            elif url.path == "/connect/oauth2/authorize":
                self._authorize(params)
            else:
                try:
                    status, answer = standin.handle(method, url.path, params, body)
                except Drop:
                    self.close_connection = True
                    return
                self._send(status, answer)

        def _authorize(self, params: dict[str, str]) -> None:
            """WeChat's authorize page (snsapi_base is silent): back to redirect_uri with a
            code for the customer `openid` (a stand-in extra; default the simulator's)."""
            if params.get("appid") != standin.appid or not params.get("redirect_uri"):
                self._send(400, {"errcode": 10003, "errmsg": "redirect_uri or appid invalid"})
                return
            code = standin.issue_code(params.get("openid") or OPENID)
            target = params["redirect_uri"]
            query = urlencode({"code": code, "state": params.get("state", "")})
            self.send_response(302)
            self.send_header("Location", f"{target}{'&' if '?' in target else '?'}{query}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, status: int, answer: Any) -> None:
            data = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def _control(standin: StandIn, method: str, path: str, body: Any) -> tuple[int, Any]:
    what = path.removeprefix("/_standin/")
    body = body if isinstance(body, dict) else {}
    try:
        if what == "calls" and method == "GET":
            return 200, [asdict(c) for c in standin.calls]
        if method != "POST":
            return 405, {"error": "POST"}
        if what == "fail":
            standin.fail(body["mode"], body.get("times"), delay_s=body.get("delay_s", 5.0))
        elif what == "recover":
            standin.recover()
        elif what == "code":
            return 200, {"code": standin.issue_code(body["openid"])}
        elif what == "consent":
            standin.consent(body["openid"], body["template_id"], str(body["scene"]))
        elif what == "replace-token":
            standin.replace_token()
        else:
            return 404, {"error": f"unknown control {what}"}
    except (KeyError, ValueError) as exc:
        return 400, {"error": f"bad control request: {exc}"}
    return 200, {"ok": True}


@contextmanager
def running(standin: StandIn, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `standin` in a thread for the duration; yields its base URL."""
    server = make_server(standin, host, port)
    thread = threading.Thread(target=server.serve_forever, name="wechat-standin", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
