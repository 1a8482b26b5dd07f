"""Signatures (constant-time, WeChat's algorithm) and the timestamp freshness window."""

from __future__ import annotations

import hashlib

import pytest
from wechatpy.utils import WeChatSigner

from o2o.wechat.errors import BadSignature, StaleTimestamp
from o2o.wechat.signing import check_timestamp, signature_of, verify_signature

from .vectors import NOW, OFFICIAL


def test_signature_is_sha1_of_sorted_parts() -> None:
    expected = hashlib.sha1(b"".join(sorted([b"tok", b"123", b"abc"]))).hexdigest()
    assert signature_of("tok", "123", "abc") == expected


def test_signature_agrees_with_wechatpy() -> None:
    signer = WeChatSigner()
    signer.add_data("QDG6eK", "1409659813", "1372623149", "中文 encrypt")
    assert signature_of("QDG6eK", "1409659813", "1372623149", "中文 encrypt") == signer.signature


def test_official_msg_signature_verifies() -> None:
    from o2o.wechat.parsing import parse_xml_fields

    encrypt = parse_xml_fields(OFFICIAL["body"])["Encrypt"]
    verify_signature(OFFICIAL["token"], OFFICIAL["msg_signature"], OFFICIAL["timestamp"],
                     OFFICIAL["nonce"], encrypt)
    with pytest.raises(BadSignature):
        verify_signature(OFFICIAL["token"], OFFICIAL["msg_signature"], OFFICIAL["timestamp"],
                         OFFICIAL["nonce"], encrypt + "A")


def test_valid_plain_signature_passes_uppercase_too() -> None:
    sig = signature_of("tok", "1700000000", "42")
    verify_signature("tok", sig, "1700000000", "42")
    verify_signature("tok", sig.upper(), "1700000000", "42")


@pytest.mark.parametrize("signature", [None, "", "0" * 40, "zz", "ä" * 40, "\ud800" * 40, "a" * 500])
def test_wrong_or_odd_signatures_are_bad_signature(signature: str | None) -> None:
    with pytest.raises(BadSignature):
        verify_signature("tok", signature, "1700000000", "42")


def test_wrong_token_nonce_or_timestamp() -> None:
    sig = signature_of("tok", "1700000000", "42")
    for token, ts, nonce in [("tok2", "1700000000", "42"), ("tok", "1700000001", "42"),
                             ("tok", "1700000000", "43")]:
        with pytest.raises(BadSignature):
            verify_signature(token, sig, ts, nonce)


def test_missing_nonce_or_timestamp() -> None:
    sig = signature_of("tok", "1700000000", "42")
    with pytest.raises(BadSignature):
        verify_signature("tok", sig, None, "42")
    with pytest.raises(BadSignature):
        verify_signature("tok", sig, "1700000000", None)


def test_timestamp_inside_window_returns_it() -> None:
    assert check_timestamp(str(NOW), now=NOW) == NOW
    assert check_timestamp(str(NOW - 300), now=NOW) == NOW - 300
    assert check_timestamp(str(NOW + 300), now=NOW) == NOW + 300


@pytest.mark.parametrize("ts", [NOW - 301, NOW + 301, 1409659813, 0, 99999999999])
def test_timestamp_outside_window(ts: int) -> None:
    with pytest.raises(StaleTimestamp):
        check_timestamp(str(ts), now=NOW)


def test_window_is_configurable() -> None:
    assert check_timestamp(str(NOW - 3000), now=NOW, window_s=3600) == NOW - 3000
    with pytest.raises(StaleTimestamp):
        check_timestamp(str(NOW - 31), now=NOW, window_s=30)


@pytest.mark.parametrize("ts", [None, "", "abc", "-5", "1.5", "１７００００００００", "1" * 40, " 1700000000"])
def test_timestamp_that_is_not_unix_time(ts: str | None) -> None:
    with pytest.raises(StaleTimestamp):
        check_timestamp(ts, now=NOW)


def test_default_clock_is_real_time() -> None:
    import time

    assert check_timestamp(str(int(time.time()))) > 1_600_000_000
    with pytest.raises(StaleTimestamp):
        check_timestamp("1409659813")
