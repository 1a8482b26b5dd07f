"""WeChat's server API played locally: its rules, limits and errcodes, recording every call.

`StandIn` is the state and the rules (no HTTP); `standin_http` serves it. The behaviour
follows WeChat's documentation: stable_token normal mode returns the current token and
renews it `overlap_s` (5 min) before expiry, old and new both valid until the old expires;
force mode invalidates the old one, 20 a day, and within 30 s of the last force it does not
refresh (returns the current token); OAuth codes are single use and expire after 5 min;
one consent allows one subscribe message.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OK = {"errcode": 0, "errmsg": "ok"}
FAIL_MODES = ("busy", "down", "slow", "empty")
MENU_TYPES = {"click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
              "pic_photo_or_album", "pic_weixin", "location_select", "media_id",
              "article_id", "article_view_limited", "miniprogram"}


def err(code: int, msg: str) -> dict[str, Any]:
    return {"errcode": code, "errmsg": f"{msg} rid: {secrets.token_hex(4)}"}


class Drop(Exception):
    """Close the connection without an answer (WeChat down)."""


@dataclass
class Call:
    """One request the stand-in received and what it answered."""

    api: str
    method: str
    params: dict[str, str]
    body: Any
    errcode: int | None
    at: float


@dataclass
class _Issued:
    value: str
    expires_at: float
    revoked: bool = False


@dataclass
class StandIn:
    """The state of one Official Account on the fake WeChat. All methods are thread-safe."""

    appid: str
    secret: str
    lifetime_s: int = 7200
    overlap_s: int = 300
    token_length: int = 136
    code_ttl_s: int = 300
    template_ids: set[str] = field(default_factory=lambda: {"o2o-standin-template"})
    clock: Callable[[], float] = time.time
    #: Refuse every access token with 40001 (to see that a client does not loop).
    refuse_tokens: bool = False
    calls: list[Call] = field(default_factory=list)
    menus: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._tokens: dict[str, _Issued] = {}
        self._current: _Issued | None = None
        self._ticket: _Issued | None = None
        self._forced: list[float] = []
        self._codes: dict[str, tuple[str, float, bool]] = {}  # code -> (openid, expiry, used)
        self._users: set[str] = set()
        self._consents: set[tuple[str, str, str]] = set()
        self._fail: tuple[str, int | None, float] | None = None

    # -- what a test or a demo tells it ------------------------------------------------------

    def fail(self, mode: str, times: int | None = None, *, delay_s: float = 5.0) -> None:
        """Misbehave on the next `times` API calls (None: until `recover`): "busy" answers
        errcode -1, "down" drops the connection, "slow" answers after `delay_s`, "empty"
        answers `{}` (no errcode, no fields)."""
        if mode not in FAIL_MODES:
            raise ValueError(f"fail mode is one of {FAIL_MODES}")
        with self._lock:
            self._fail = (mode, times, delay_s)

    def recover(self) -> None:
        with self._lock:
            self._fail = None

    def issue_code(self, openid: str) -> str:
        """The code WeChat's authorize redirect would hand the page for this customer."""
        with self._lock:
            code = secrets.token_urlsafe(24)
            self._codes[code] = (openid, self.clock() + self.code_ttl_s, False)
            self._users.add(openid)
            return code

    def consent(self, openid: str, template_id: str, scene: str) -> None:
        """The customer accepted the 一次性订阅 popup: one message may be sent."""
        with self._lock:
            self._users.add(openid)
            self._consents.add((openid, template_id, str(scene)))

    def add_user(self, openid: str) -> None:
        with self._lock:
            self._users.add(openid)

    def replace_token(self) -> str:
        """Another party force-refreshed: the current token stops working at once."""
        with self._lock:
            for issued in self._tokens.values():
                issued.revoked = True
            return self._issue_token().value

    def revoke(self, token: str) -> None:
        """WeChat stops accepting `token` (a leak, say) while normal mode still hands it out."""
        with self._lock:
            self._tokens[token].revoked = True

    def count(self, api: str, **body: Any) -> int:
        """How many calls `api` received (whose JSON body has these items, when given)."""
        with self._lock:
            return sum(1 for c in self.calls if c.api == api and all(
                isinstance(c.body, dict) and c.body.get(k) == v for k, v in body.items()))

    # -- the API -----------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
        """Answer one request: (HTTP status, JSON). Raises `Drop` to play WeChat being down."""
        api = path.strip("/").removeprefix("cgi-bin/").removeprefix("sns/")
        with self._lock:
            mode = self._take_failure()
            if mode == "down":
                self._record(api, method, params, body, None)
                raise Drop
            if mode == "busy":
                answer: Any = {"errcode": -1, "errmsg": "system error"}
            elif mode == "empty":
                answer = {}
            else:
                route = _ROUTES.get(path.rstrip("/"))
                answer = route(self, method, params, body) if route else (404, "not found")
            status, answer = answer if isinstance(answer, tuple) else (200, answer)
            errcode = answer.get("errcode", 0) if isinstance(answer, dict) else None
            self._record(api, method, params, body, errcode)
            delay = self._fail[2] if mode == "slow" and self._fail else 0.0
        if delay:
            time.sleep(delay)
        return status, answer

    def _take_failure(self) -> str | None:
        if self._fail is None:
            return None
        mode, times, delay = self._fail
        if times is not None:
            self._fail = (mode, times - 1, delay) if times > 1 else None
        return mode

    def _record(self, api: str, method: str, params: dict[str, str], body: Any,
                errcode: int | None) -> None:
        self.calls.append(Call(api, method, dict(params), body, errcode, self.clock()))

    def _issue_token(self) -> _Issued:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        value = "".join(secrets.choice(alphabet) for _ in range(self.token_length))
        self._current = _Issued(value, self.clock() + self.lifetime_s)
        self._tokens[value] = self._current
        return self._current

    def check_token(self, params: dict[str, str]) -> dict[str, Any] | None:
        """None when `access_token` is valid now, else WeChat's error for it."""
        token = params.get("access_token")
        if not token:
            return err(41001, "access_token missing")
        issued = self._tokens.get(token)
        if issued is None:
            return err(40014, "invalid access_token")
        if issued.revoked or self.refuse_tokens:
            return err(40001, "invalid credential, access_token is invalid or not latest")
        if self.clock() >= issued.expires_at:
            return err(42001, "access_token expired")
        return None

    def stable_token(self, method: str, params: dict[str, str], body: Any) -> Any:
        if method != "POST":
            return err(43002, "require POST method")
        body = body if isinstance(body, dict) else {}
        if body.get("grant_type") != "client_credential":
            return err(40002, "invalid grant_type")
        problem = self._check_app(body.get("appid"), body.get("secret"))
        if problem:
            return problem
        now = self.clock()
        current = self._current
        if body.get("force_refresh") is True:
            today = [t for t in self._forced if now - t < 24 * 3600]
            if len(today) >= 20:
                return err(45009, "reach max api daily quota limit")
            if current is None or not today or now - today[-1] >= 30:  # else: no refresh
                self._forced = [*today, now]
                for issued in self._tokens.values():
                    issued.revoked = True
                current = self._issue_token()
        elif current is None or now >= current.expires_at - self.overlap_s:
            current = self._issue_token()  # the old one stays valid until it expires
        return {"access_token": current.value, "expires_in": int(current.expires_at - now)}

    def _check_app(self, appid: Any, secret: Any) -> dict[str, Any] | None:
        if not appid:
            return err(41002, "appid missing")
        if not secret:
            return err(41004, "appsecret missing")
        if appid != self.appid:
            return err(40013, "invalid appid")
        if secret != self.secret:
            return err(40125, "invalid appsecret")
        return None

    def getticket(self, method: str, params: dict[str, str], body: Any) -> Any:
        problem = self.check_token(params)
        if problem:
            return problem
        if params.get("type") != "jsapi":
            return err(40097, "invalid args")
        now = self.clock()
        if self._ticket is None or now >= self._ticket.expires_at:
            self._ticket = _Issued("standin_ticket_" + secrets.token_urlsafe(60), now + 7200)
        return {**OK, "ticket": self._ticket.value, "expires_in": int(self._ticket.expires_at - now)}

    def oauth_access_token(self, method: str, params: dict[str, str], body: Any) -> Any:
        problem = self._check_app(params.get("appid"), params.get("secret"))
        if problem:
            return problem
        if params.get("grant_type") != "authorization_code":
            return err(40002, "invalid grant_type")
        code = params.get("code", "")
        found = self._codes.get(code)
        if found is None or self.clock() >= found[1]:
            return err(40029, "invalid code")
        openid, expiry, used = found
        if used:
            return err(40163, "code been used")
        self._codes[code] = (openid, expiry, True)
        return {"access_token": "standin_web_" + secrets.token_urlsafe(32), "expires_in": 7200,
                "refresh_token": "standin_refresh_" + secrets.token_urlsafe(32),
                "openid": openid, "scope": "snsapi_base", "is_snapshotuser": 0}

    def menu_create(self, method: str, params: dict[str, str], body: Any) -> Any:
        problem = self.check_token(params)
        if problem:
            return problem
        buttons = body.get("button") if isinstance(body, dict) else None
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return err(40016, "invalid button size")
        for button in buttons:
            subs = button.get("sub_button") or []
            if len(subs) > 5:
                return err(40023, "invalid sub button size")
            for item in [button, *subs]:
                limit = 16 if item is button else 60
                if not item.get("name") or len(item["name"].encode()) > limit:
                    return err(40018, "invalid button name size")
                if item is button and subs:
                    continue
                if item.get("type") not in MENU_TYPES:
                    return err(40017, "invalid button type")
                if len(str(item.get("key", "")).encode()) > 128:
                    return err(40019, "invalid button key size")
        self.menus.append(body)
        return dict(OK)

    def subscribe_send(self, method: str, params: dict[str, str], body: Any) -> Any:
        problem = self.check_token(params)
        if problem:
            return problem
        body = body if isinstance(body, dict) else {}
        openid, template = body.get("touser", ""), body.get("template_id", "")
        scene, title = str(body.get("scene", "")), body.get("title", "")
        content = ((body.get("data") or {}).get("content") or {}).get("value", "")
        if openid not in self._users:
            return err(40003, "invalid openid")
        if template not in self.template_ids:
            return err(40037, "invalid template_id")
        if not scene or not title or len(title) > 15 or not content or len(content) > 200:
            return err(47001, "data format error")
        if (openid, template, scene) not in self._consents:
            return err(43101, "user refuse to accept the msg")
        self._consents.discard((openid, template, scene))  # one consent, one message
        self.messages.append(body)
        return dict(OK)


_ROUTES: dict[str, Callable[[StandIn, str, dict[str, str], Any], Any]] = {
    "/cgi-bin/stable_token": StandIn.stable_token,
    "/cgi-bin/ticket/getticket": StandIn.getticket,
    "/sns/oauth2/access_token": StandIn.oauth_access_token,
    "/cgi-bin/menu/create": StandIn.menu_create,
    "/cgi-bin/message/template/subscribe": StandIn.subscribe_send,
}
