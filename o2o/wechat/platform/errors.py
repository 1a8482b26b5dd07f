"""Errors of WeChat's server API: one small hierarchy, each naming the call, errcode and errmsg.

Every class also inherits the domain category it belongs to (ServiceUnavailable,
ValidationError, PermissionDenied, ConfigError) so api/errors.py maps it without knowing
WeChat. The codes are WeChat's own (全局返回码).
"""

from __future__ import annotations

from o2o.errors import ConfigError, O2OError, PermissionDenied, ServiceUnavailable, ValidationError

#: errcode WeChat answers when it is busy: the request was not processed, try again later.
SYSTEM_BUSY = -1
#: The access token was refused: invalid or not the latest (40001), malformed (40014),
#: expired (42001). One refresh and one retry, never more.
TOKEN_REJECTED = frozenset({40001, 40014, 42001})


class PlatformError(O2OError):
    """Base class: `call` is the API called ("stable_token"), `errcode`/`errmsg` WeChat's answer
    (errcode None when no answer came at all)."""

    code = "wechat_api_error"

    def __init__(self, *, call: str, errcode: int | None, errmsg: str,
                 retryable: bool = False) -> None:
        where = f"WeChat API {call}"
        said = f"errcode {errcode}: {errmsg}" if errcode is not None else errmsg
        super().__init__(f"{where} failed ({said})", details={"call": call, "errcode": errcode})
        self.call, self.errcode, self.errmsg = call, errcode, errmsg
        #: Whether trying the same request again may succeed (and cannot do harm).
        self.retryable = retryable


class PlatformUnavailable(PlatformError, ServiceUnavailable):
    """No usable answer: WeChat unreachable, timed out, busy after the retries, or not JSON."""

    code = "wechat_api_unavailable"


class TokenRejected(PlatformError, ServiceUnavailable):
    """WeChat refused the access token (40001, 40014, 42001) even after one refresh."""

    code = "wechat_token_rejected"


class QuotaExceeded(PlatformError, ServiceUnavailable):
    """A call quota is spent (45009 daily, 45011 per minute, or our own force-refresh limit)."""

    code = "wechat_quota_exceeded"


class CredentialsRefused(PlatformError, ConfigError):
    """The appid, secret or server IP is wrong for WeChat (40013, 40125, 40164, 41002, 41004,
    40002): a configuration problem in our settings or the console, not a transient one."""

    code = "wechat_credentials_refused"


class NotAuthorized(PlatformError, PermissionDenied):
    """The Official Account lacks the permission (48001) or the call is not allowed (43002)."""

    code = "wechat_not_authorized"


class OAuthCodeRefused(PlatformError, ValidationError):
    """The OAuth code is invalid or expired (40029) or was already used (40163)."""

    code = "wechat_oauth_code_refused"


class RecipientRefused(PlatformError, ValidationError):
    """The customer cannot receive it: no consent left / refused (43101), unknown openid (40003)."""

    code = "wechat_recipient_refused"


class RequestRefused(PlatformError, ValidationError):
    """WeChat refused what we sent (bad template, data format, menu shape, ...)."""

    code = "wechat_request_refused"


_BY_CODE: dict[int, type[PlatformError]] = {
    SYSTEM_BUSY: PlatformUnavailable,
    **{c: TokenRejected for c in TOKEN_REJECTED},
    41001: TokenRejected,  # access_token missing
    45009: QuotaExceeded, 45011: QuotaExceeded,
    40002: CredentialsRefused, 40013: CredentialsRefused, 40125: CredentialsRefused,
    40164: CredentialsRefused, 41002: CredentialsRefused, 41004: CredentialsRefused,
    43002: NotAuthorized, 48001: NotAuthorized,
    40029: OAuthCodeRefused, 40163: OAuthCodeRefused,
    43101: RecipientRefused, 40003: RecipientRefused,
}


def error_for(*, call: str, errcode: int, errmsg: str) -> PlatformError:
    """The exception for WeChat's answer `errcode` to `call`."""
    cls = _BY_CODE.get(errcode, RequestRefused)
    # -1: WeChat did not process the request; it asks to be tried again later.
    return cls(call=call, errcode=errcode, errmsg=errmsg, retryable=errcode == SYSTEM_BUSY)
