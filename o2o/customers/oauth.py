"""Who is looking at an H5 page in WeChat: OAuth 2.0 `snsapi_base` (silent), kept pseudonymous.

A page reached without a customer (a forwarded copy, a link that names nobody) and opened in
WeChat's browser sends the customer once through WeChat's authorize redirect. WeChat comes
back to `CALLBACK_PATH` with a single-use `code` and our `state`; the code is exchanged
server-side (`o2o.wechat.platform`) for the openid, which is turned into the keyed customer
hash at once and never kept: the session is that hash, sealed like a link under its own label.

`state` binds the round trip to the browser that started it: a random value, sealed with the
page to return to into a short-lived cookie, and usable once across every worker (the nonce
bindings of the /wechat endpoint, in Redis when there is one). A forged state (no matching
cookie) or a replayed one (already used) is refused before WeChat is asked anything.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from o2o.config import Settings
from o2o.customers.identity import customer_hash
from o2o.customers.link_codec import Link
from o2o.errors import O2OError
from o2o.links import LinkExpired, LinkInvalid, seal, unseal
from o2o.wechat.nonces import Binding, MemoryNonceBindings, NonceBindings, RedisNonceBindings

#: Where WeChat's authorize redirect comes back to (under the public base URL).
CALLBACK_PATH = "/h5/oauth"
SESSION_LABEL = b"customer-session/v1"
STATE_LABEL = b"oauth-state/v1"
#: WeChat's code lives about 5 minutes; a round trip that takes longer starts again.
STATE_TTL_S = 300
#: A return path is one of our H5 pages (never another site: no open redirect).
_RETURN = re.compile(r"/h5/[A-Za-z0-9_\-/]+(\?[A-Za-z0-9_\-=&%.]*)?")
_MAX_RETURN = 600
_STATE = re.compile(r"[A-Za-z0-9_-]{22}")
_CODE = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_HASH = re.compile(r"[0-9a-f]{64}")
_EXTRA = "oauth_state_uses"


class OAuthRefused(O2OError):
    """A callback that does not finish a round trip this browser started (forged, replayed,
    expired or mangled): nothing is exchanged and nothing is stored."""

    code = "oauth_refused"
    http_status = 400


def in_wechat(user_agent: str | None) -> bool:
    """Is the page open in WeChat's own browser (where the authorize redirect works)?"""
    return "micromessenger" in (user_agent or "").lower()


def authorize_url(settings: Settings, state: str) -> str:
    """WeChat's authorize redirect for a silent (`snsapi_base`) round trip; WeChat wants the
    parameters in this order and the `#wechat_redirect` fragment."""
    back = settings.public_base_url.rstrip("/") + CALLBACK_PATH
    return (f"{settings.wechat_oauth_base.rstrip('/')}/connect/oauth2/authorize"
            f"?appid={quote(settings.wechat_appid, safe='')}&redirect_uri={quote(back, safe='')}"
            f"&response_type=code&scope=snsapi_base&state={state}#wechat_redirect")


def begin(settings: Settings, return_to: str, *, now: float | None = None) -> tuple[str, str]:
    """(authorize URL, state cookie value) for a round trip that comes back to `return_to`."""
    if len(return_to) > _MAX_RETURN or not _RETURN.fullmatch(return_to) or "//" in return_to:
        raise ValueError(f"not a page to come back to: {return_to[:80]!r}")
    state = secrets.token_urlsafe(16)  # 22 characters, within WeChat's 128 [A-Za-z0-9_-]
    exp = int((time.time() if now is None else now) + STATE_TTL_S)
    cookie = seal(state.encode() + b" " + return_to.encode(), settings.signing_key,
                  label=STATE_LABEL, exp=exp)
    return authorize_url(settings, state), cookie


def finish(settings: Settings, *, state: str | None, cookie: str | None,
           uses: NonceBindings, now: float | None = None) -> str:
    """The page to return to, if `state` is the one this browser's `cookie` was issued with
    and has not been used before (it is used now); OAuthRefused otherwise."""
    when = time.time() if now is None else now
    if not state or not cookie or not _STATE.fullmatch(state):
        raise OAuthRefused("This sign-in did not start here.")
    try:
        exp, body = unseal(cookie, settings.signing_key, label=STATE_LABEL, now=when)
    except (LinkInvalid, LinkExpired) as exc:
        raise OAuthRefused("This sign-in did not start here, or took too long.") from exc
    issued, _, return_to = body.decode("ascii", "replace").partition(" ")
    if not hmac.compare_digest(issued.encode(), state.encode()):
        raise OAuthRefused("This sign-in did not start here.")
    # Used once: this attempt binds the state; any other attempt finds it taken.
    attempt = Binding(f"oauth-state:{state}", os.urandom(8).hex(), exp + 60)
    if not uses.claim(attempt, now=when):
        raise OAuthRefused("This sign-in was already used.")
    return return_to


def identify(settings: Settings, platform: Any, code: str | None) -> str:
    """The keyed customer hash behind an OAuth `code` (exchanged once; the openid is dropped
    here). Raises the platform's error when WeChat refuses the code or cannot be reached."""
    if not code or not _CODE.fullmatch(code):
        raise OAuthRefused("WeChat sent no usable code.")
    identity = platform.exchange_code(code)
    return customer_hash(identity.openid, settings.customer_hash_key)


def open_session(settings: Settings, who: str, *, now: float | None = None) -> tuple[str, int]:
    """The sealed session naming customer `who`, and for how many seconds to keep it."""
    ttl = settings.wechat_oauth_session_ttl_s
    exp = int((time.time() if now is None else now) + ttl)
    return seal(who.encode("ascii"), settings.signing_key, label=SESSION_LABEL, exp=exp), ttl


def session_customer(settings: Settings, value: str | None, *,
                     now: float | None = None) -> str | None:
    """The customer hash a genuine, unexpired session names; None for anything else."""
    if not value:
        return None
    try:
        _, body = unseal(value, settings.signing_key, label=SESSION_LABEL, now=now)
    except (LinkInvalid, LinkExpired):
        return None
    who = body.decode("ascii", "replace")
    return who if _HASH.fullmatch(who) else None


def as_viewer(link: Link, who: str) -> Link:
    """The page as customer `who` (known through OAuth) sees it: it acts for them. Someone
    else's forwarded link keeps its place and offer but none of its customer (nor their
    query, so nothing of theirs is counted or shown)."""
    if who == link.customer_hash:
        return replace(link, shared=False)
    return replace(link, customer_hash=who, query_id=None, shared=False)


def state_uses_of(services: Any) -> NonceBindings:
    """The process's record of used states: shared through Redis when there is one."""
    uses = services.extras.get(_EXTRA)
    if uses is None:
        uses = RedisNonceBindings(services.redis, prefix="o2o:oauth:") \
            if services.redis is not None else MemoryNonceBindings()
        uses = services.extras.setdefault(_EXTRA, uses)
    return uses
