"""The one client of WeChat's server API: every call to WeChat goes through `PlatformClient`.

It knows the endpoints, timeouts, bounded retries with backoff on system-busy (-1) and
transport failures, and maps WeChat's errcodes to `errors`. It holds no token: callers pass
the access token (`tokens.TokenService` owns it), so a rejected token surfaces as
`TokenRejected` and the token service decides about refreshing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from o2o.wechat.platform.errors import (
    PlatformError,
    PlatformUnavailable,
    error_for,
)

log = logging.getLogger("o2o.wechat.platform")

DEFAULT_BASE = "https://api.weixin.qq.com"
#: Transport failures after which the request certainly did not reach WeChat's handler.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Credential:
    """An access token or jsapi_ticket and its remaining lifetime as WeChat stated it."""

    value: str
    expires_in: int


@dataclass(frozen=True)
class OAuthIdentity:
    """What an OAuth code exchange (snsapi_base) tells us: the customer's openid."""

    openid: str
    scope: str
    unionid: str | None = None


ErrorHook = Callable[[PlatformError], None]


class PlatformClient:
    """WeChat's server API over HTTP (httpx), one method per call this product makes."""

    def __init__(self, *, appid: str, secret: str, base_url: str = DEFAULT_BASE,
                 timeout_s: float = 3.0, retries: int = 2, backoff_s: float = 0.25,
                 on_error: ErrorHook | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.appid, self._secret = appid, secret
        self.retries, self.backoff_s = retries, backoff_s
        self.on_error = on_error
        self._http = httpx.Client(base_url=base_url.rstrip("/"), transport=transport,
                                  timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
                                  headers={"User-Agent": "o2o-wechat-platform"})

    def close(self) -> None:
        self._http.close()

    # -- the calls -------------------------------------------------------------------------

    def stable_token(self, *, force_refresh: bool = False) -> Credential:
        """`POST /cgi-bin/stable_token`: normal mode returns the current token; force mode
        (20 a day, 30 s apart) invalidates it. Only `tokens.TokenService` calls this."""
        body = {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret,
                "force_refresh": force_refresh}
        data = self._call("stable_token", "POST", "/cgi-bin/stable_token", json=body,
                          expect=("access_token", "expires_in"))
        return Credential(str(data["access_token"]), int(data["expires_in"]))

    def jsapi_ticket(self, access_token: str) -> Credential:
        """`GET /cgi-bin/ticket/getticket?type=jsapi`: the JS-SDK signing ticket (7200 s)."""
        data = self._call("getticket", "GET", "/cgi-bin/ticket/getticket",
                          params={"access_token": access_token, "type": "jsapi"},
                          expect=("ticket", "expires_in"))
        return Credential(str(data["ticket"]), int(data["expires_in"]))

    def exchange_code(self, code: str) -> OAuthIdentity:
        """`GET /sns/oauth2/access_token`: trade an OAuth code (single use, ~5 min) for the
        openid. Not retried after it may have reached WeChat: a second try would be 40163."""
        params = {"appid": self.appid, "secret": self._secret, "code": code,
                  "grant_type": "authorization_code"}
        data = self._call("oauth2/access_token", "GET", "/sns/oauth2/access_token",
                          params=params, idempotent=False, expect=("openid",))
        return OAuthIdentity(openid=str(data["openid"]), scope=str(data.get("scope", "")),
                             unionid=data.get("unionid"))

    def create_menu(self, access_token: str, menu: Mapping[str, Any]) -> None:
        """`POST /cgi-bin/menu/create`: replace the Official Account's menu."""
        self._call("menu/create", "POST", "/cgi-bin/menu/create",
                   params={"access_token": access_token}, json=dict(menu))

    def send_subscribe(self, access_token: str, *, openid: str, template_id: str, scene: str,
                       title: str, content: str, url: str | None = None,
                       color: str | None = None) -> None:
        """`POST /cgi-bin/message/template/subscribe`: the 服务号 one-time subscribe message
        (one consent = one message; title ≤ 15 chars, content ≤ 200 chars). Not retried once
        it may have reached WeChat: the retry would be refused (43101, the consent is spent)
        and a delivered message recorded as failed."""
        item: dict[str, str] = {"value": content}
        if color:
            item["color"] = color
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "scene": scene,
                                "title": title, "data": {"content": item}}
        if url:
            body["url"] = url
        self._call("message/template/subscribe", "POST", "/cgi-bin/message/template/subscribe",
                   params={"access_token": access_token}, json=body, idempotent=False)

    # -- transport -------------------------------------------------------------------------

    def _call(self, call: str, method: str, path: str, *, params: dict[str, str] | None = None,
              json: dict[str, Any] | None = None, idempotent: bool = True,
              expect: tuple[str, ...] = ()) -> dict[str, Any]:
        """One API call: bounded retries with exponential backoff on -1 and transport failures
        (any transport failure for idempotent calls; for the others only failures that
        certainly happened before the request was sent). Errors go to `on_error` and raise."""
        attempt = 0
        while True:
            try:
                return self._once(call, method, path, params=params, json=json,
                                  idempotent=idempotent, expect=expect)
            except PlatformError as exc:
                if not exc.retryable or attempt >= self.retries:
                    self._report(exc)
                    raise
                delay = self.backoff_s * (2 ** attempt)
                attempt += 1
                log.warning("%s; retry %d of %d in %.2f s", exc.message, attempt, self.retries,
                            delay)
                time.sleep(delay)

    def _once(self, call: str, method: str, path: str, *, params: dict[str, str] | None,
              json: dict[str, Any] | None, idempotent: bool,
              expect: tuple[str, ...]) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as exc:
            # Our own sentence: httpx's would carry the URL, and with it the access token.
            raise _unavailable(call, f"{type(exc).__name__} talking to WeChat",
                               retryable=idempotent or isinstance(exc, _NOT_SENT)) from None
        if response.status_code != 200:
            raise _unavailable(call, f"HTTP {response.status_code} from WeChat",
                               retryable=idempotent and response.status_code >= 500)
        try:
            data = response.json()
        except ValueError:
            raise _unavailable(call, "WeChat answered something that is not JSON",
                               retryable=False) from None
        if not isinstance(data, dict):
            raise _unavailable(call, "WeChat answered JSON that is not an object", retryable=False)
        errcode = int(data.get("errcode") or 0)
        if errcode:
            raise error_for(call=call, errcode=errcode, errmsg=str(data.get("errmsg", "")))
        missing = [name for name in expect if name not in data]
        if missing:
            raise _unavailable(call, f"WeChat's answer lacks {', '.join(missing)}",
                               retryable=False)
        return data

    def _report(self, exc: PlatformError) -> None:
        log.warning("%s", exc.message)
        if self.on_error is not None:
            self.on_error(exc)


def _unavailable(call: str, message: str, *, retryable: bool) -> PlatformUnavailable:
    return PlatformUnavailable(call=call, errcode=None, errmsg=message, retryable=retryable)
