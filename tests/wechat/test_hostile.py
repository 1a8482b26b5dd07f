"""Hostile input: whatever arrives, only o2o.wechat.errors come out (each one a 4xx).

A corpus of known attacks with the exact error each must produce, then hypothesis over
random bodies, random XML, random ciphertexts (correctly signed, so decryption really runs)
and random query parameters.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from o2o.errors import O2OError
from o2o.wechat.crypto import MessageCrypto
from o2o.wechat.errors import (
    BadCiphertext,
    BadSignature,
    BodyTooLarge,
    ForbiddenXML,
    MalformedXML,
    StaleTimestamp,
    WeChatError,
)
from o2o.wechat.parsing import Message, parse_message
from o2o.wechat.security import unwrap_request
from o2o.wechat.signing import signature_of
from o2o.wechat.simulator import build_request, message_xml

from .vectors import AES_KEY, APPID, NOW, TOKEN

CRYPTO = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
CAP = 16 * 1024


def plain_query(ts: int = NOW, nonce: str = "1") -> dict[str, str]:
    return {"signature": signature_of(TOKEN, str(ts), nonce), "timestamp": str(ts), "nonce": nonce}


def aes_query(encrypt: str, ts: int = NOW, nonce: str = "1") -> dict[str, str]:
    return {**plain_query(ts, nonce), "encrypt_type": "aes",
            "msg_signature": signature_of(TOKEN, str(ts), nonce, encrypt)}


def pipeline(body: bytes | str, query: dict[str, str]) -> Message | WeChatError:
    """What the endpoint does before the handlers; any non-WeChatError escapes and fails the test."""
    try:
        unwrapped = unwrap_request(body, query, token=TOKEN, crypto=CRYPTO, now=NOW, max_bytes=CAP)
        return parse_message(unwrapped.xml, max_bytes=CAP)
    except WeChatError as exc:
        assert isinstance(exc, O2OError) and exc.code.startswith("wechat_")
        assert 400 <= exc.http_status < 500
        return exc


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content></xml>"""
XXE = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content></xml>"""
EXTERNAL_DTD = """<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml><MsgType>text</MsgType></xml>"""
PARAMETER_ENTITY = """<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><xml/>"""
VALID = message_xml("text", "hi", create_time=NOW, msg_id=1)

CORPUS: list[tuple[str, bytes | str, dict[str, str], type[WeChatError]]] = [
    ("billion laughs", BILLION_LAUGHS, plain_query(), ForbiddenXML),
    ("XXE external entity", XXE, plain_query(), ForbiddenXML),
    ("external DTD", EXTERNAL_DTD, plain_query(), ForbiddenXML),
    ("parameter entity", PARAMETER_ENTITY, plain_query(), ForbiddenXML),
    ("truncated XML", VALID[: len(VALID) // 2], plain_query(), MalformedXML),
    ("empty body", b"", plain_query(), MalformedXML),
    ("not XML at all", b"\x00\x01\x02 binary", plain_query(), MalformedXML),
    ("JSON instead of XML", b'{"MsgType": "text"}', plain_query(), MalformedXML),
    ("huge body", b"<xml>" + b"A" * (CAP + 1) + b"</xml>", plain_query(), BodyTooLarge),
    ("GBK instead of UTF-8", "<xml><Content>门店</Content></xml>".encode("gbk"), plain_query(), MalformedXML),
    ("declared GBK", '<?xml version="1.0" encoding="GBK"?><xml><a>门</a></xml>'.encode("gbk"), plain_query(), MalformedXML),
    ("lone surrogate in str", "<xml><a>\ud800</a></xml>", plain_query(), MalformedXML),
    ("wrong signature", VALID, {**plain_query(), "signature": "0" * 40}, BadSignature),
    ("missing signature", VALID, {"timestamp": str(NOW), "nonce": "1"}, BadSignature),
    ("replayed old timestamp", VALID, plain_query(ts=NOW - 3600), StaleTimestamp),
    ("timestamp from the future", VALID, plain_query(ts=NOW + 3600), StaleTimestamp),
    ("no query at all", VALID, {}, StaleTimestamp),
    ("garbage base64", "<xml><Encrypt>!!!not base64***</Encrypt></xml>", aes_query("!!!not base64***"), BadCiphertext),
    ("valid base64 of garbage", "<xml><Encrypt>" + base64.b64encode(b"\x07" * 64).decode() + "</Encrypt></xml>",
     aes_query(base64.b64encode(b"\x07" * 64).decode()), BadCiphertext),
    ("base64 of a partial block", "<xml><Encrypt>" + base64.b64encode(b"x" * 37).decode() + "</Encrypt></xml>",
     aes_query(base64.b64encode(b"x" * 37).decode()), BadCiphertext),
    ("one block only", "<xml><Encrypt>" + base64.b64encode(b"x" * 16).decode() + "</Encrypt></xml>",
     aes_query(base64.b64encode(b"x" * 16).decode()), BadCiphertext),
    ("Encrypt with children", "<xml><Encrypt><a>1</a></Encrypt></xml>", aes_query(""), BadCiphertext),
    ("no Encrypt field", "<xml><ToUserName>x</ToUserName></xml>", aes_query(""), BadCiphertext),
    ("encrypted XXE", *build_request(XXE, token=TOKEN, aes_key=AES_KEY, appid=APPID,
                                     timestamp=NOW)[::-1], ForbiddenXML),
    ("msg_signature for another body", "<xml><Encrypt>" + CRYPTO.encrypt_payload(VALID) + "</Encrypt></xml>",
     aes_query("something else"), BadSignature),
]


@pytest.mark.parametrize(("name", "body", "query", "error"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(name: str, body: bytes | str, query: dict[str, str], error: type[WeChatError]) -> None:
    result = pipeline(body, query)
    assert isinstance(result, error), f"{name}: got {result!r}"


def test_the_valid_controls_pass() -> None:
    assert isinstance(pipeline(VALID, plain_query()), Message)
    query, body = build_request(VALID, token=TOKEN, aes_key=AES_KEY, appid=APPID, timestamp=NOW)
    assert isinstance(pipeline(body, query), Message)


FIELDS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event",
          "EventKey", "Location_X", "Location_Y", "Scale", "Label", "Latitude", "Longitude",
          "Precision", "SendLocationInfo", "Encrypt", "item"]
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["text", "event", "location", "location_select", "LOCATION", "CLICK",
                     "subscribe", "91", "-91", "1e999", "nan", "12345678901234567890123", "]]>"]),
    st.integers().map(str), st.floats().map(str),
)


TAGS = st.sampled_from(FIELDS)
LEAF = VALUES.map(lambda v: v.replace("&", "&amp;").replace("<", "&lt;"))
NODE = st.recursive(
    LEAF,
    lambda children: st.builds(lambda tag, parts: f"<{tag}>{''.join(parts)}</{tag}>",
                               TAGS, st.lists(children, max_size=4)),
    max_leaves=12,
)
XMLISH = st.builds(
    lambda parts: "<xml>" + "".join(parts) + "</xml>",
    st.lists(st.builds(lambda tag, inner: f"<{tag}>{inner}</{tag}>", TAGS, NODE), max_size=10),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes(body: bytes) -> None:
    pipeline(body, plain_query())


@settings(max_examples=300)
@given(st.text(max_size=2048))
def test_random_text(body: str) -> None:
    pipeline(body, plain_query())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(XMLISH)
def test_random_xml_plain(body: str) -> None:
    pipeline(body, plain_query())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(XMLISH)
def test_random_xml_encrypted_with_a_valid_key(xml: str) -> None:
    """Plaintext an attacker could never produce without the key, to test the layers behind it."""
    query, body = build_request(xml, token=TOKEN, aes_key=AES_KEY, appid=APPID, timestamp=NOW)
    pipeline(body, query)


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
                 st.text(max_size=200)))
def test_random_ciphertext_correctly_signed(encrypt: str) -> None:
    body = f"<xml><Encrypt><![CDATA[{encrypt.replace(']]>', '')}]]></Encrypt></xml>"
    result = pipeline(body, aes_query(encrypt.replace("]]>", "")))
    assert isinstance(result, WeChatError)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["signature", "timestamp", "nonce", "encrypt_type",
                                        "msg_signature", "echostr", "openid"]),
                       st.text(max_size=60)))
def test_random_query_parameters(query: dict[str, str]) -> None:
    result = pipeline(VALID, query)
    assert isinstance(result, WeChatError)


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=255))
def test_flipped_byte_in_an_encrypted_request(position: int, value: int) -> None:
    query, body = build_request(VALID, token=TOKEN, aes_key=AES_KEY, appid=APPID, timestamp=NOW)
    start = body.index(b"<Encrypt><![CDATA[") + len(b"<Encrypt><![CDATA[")
    end = body.index(b"]]></Encrypt>")
    position = start + position % (end - start)
    mutated = bytearray(body)
    mutated[position] = value
    result = pipeline(bytes(mutated), query)
    if bytes(mutated) == body:
        assert isinstance(result, Message)
    else:  # a changed ciphertext never gets past the signature, whatever the byte
        assert isinstance(result, BadSignature | MalformedXML), result
