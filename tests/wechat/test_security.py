"""unwrap_request / wrap_reply / verify_url over real signed and encrypted requests."""

from __future__ import annotations

import pytest

from o2o.wechat.crypto import MessageCrypto
from o2o.wechat.errors import (
    BadCiphertext,
    BadSignature,
    BodyTooLarge,
    OpenIdMismatch,
    PlaintextRefused,
    StaleTimestamp,
)
from o2o.wechat.parsing import parse_message, parse_xml_fields
from o2o.wechat.security import check_openid, unwrap_request, verify_url, wrap_reply
from o2o.wechat.signing import signature_of
from o2o.wechat.simulator import build_request, message_xml

from .vectors import AES_KEY, APPID, NOW, OFFICIAL, OLD_AES_KEY, TOKEN


@pytest.fixture
def crypto() -> MessageCrypto:
    return MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)


def push() -> str:
    return message_xml("location", 31.2304, 121.4737, "人民广场", create_time=NOW, msg_id=7)


def test_plain_mode(crypto: MessageCrypto) -> None:
    query, body = build_request(push(), token=TOKEN, timestamp=NOW)
    xml, encrypted = unwrap_request(body, query, token=TOKEN, crypto=crypto, now=NOW)
    assert encrypted is False
    assert xml == push()


def test_safe_mode(crypto: MessageCrypto) -> None:
    query, body = build_request(push(), token=TOKEN, aes_key=AES_KEY, appid=APPID, timestamp=NOW)
    assert set(parse_xml_fields(body)) == {"ToUserName", "Encrypt"}
    unwrapped = unwrap_request(body, query, token=TOKEN, crypto=crypto, now=NOW)
    assert unwrapped.encrypted is True
    assert parse_message(unwrapped.xml).label == "人民广场"


def test_compat_mode_trusts_only_the_encrypted_copy(crypto: MessageCrypto) -> None:
    query, body = build_request(push(), token=TOKEN, aes_key=AES_KEY, appid=APPID,
                                timestamp=NOW, compat=True)
    fields = parse_xml_fields(body)
    assert fields["MsgType"] == "location" and "Encrypt" in fields
    # A man in the middle rewrites the clear copy; the decrypted one is what counts.
    tampered = body.replace("人民广场".encode(), b"evil")
    assert tampered != body
    unwrapped = unwrap_request(tampered, query, token=TOKEN, crypto=crypto, now=NOW)
    assert parse_message(unwrapped.xml).label == "人民广场"


def test_compat_body_with_xml_end_tag_inside_content(crypto: MessageCrypto) -> None:
    xml = message_xml("text", "</xml> is not the end", create_time=NOW, msg_id=1)
    query, body = build_request(xml, token=TOKEN, aes_key=AES_KEY, appid=APPID, timestamp=NOW,
                                compat=True)
    assert set(parse_xml_fields(body)) >= {"Content", "Encrypt"}
    unwrapped = unwrap_request(body, query, token=TOKEN, crypto=crypto, now=NOW)
    assert parse_message(unwrapped.xml).content == "</xml> is not the end"


def test_official_vector_through_unwrap_request() -> None:
    crypto = MessageCrypto(token=OFFICIAL["token"], encoding_aes_key=OFFICIAL["aes_key"],
                           appid=OFFICIAL["appid"])
    query = {"timestamp": OFFICIAL["timestamp"], "nonce": OFFICIAL["nonce"],
             "encrypt_type": "aes", "msg_signature": OFFICIAL["msg_signature"]}
    xml, encrypted = unwrap_request(OFFICIAL["body"], query, token=OFFICIAL["token"],
                                    crypto=crypto, now=int(OFFICIAL["timestamp"]) + 5)
    assert (xml, encrypted) == (OFFICIAL["plaintext"], True)
    with pytest.raises(StaleTimestamp):  # the same request replayed today
        unwrap_request(OFFICIAL["body"], query, token=OFFICIAL["token"], crypto=crypto, now=NOW)


def test_rotation_through_unwrap_request() -> None:
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID,
                           previous_keys=[OLD_AES_KEY])
    query, body = build_request(push(), token=TOKEN, aes_key=OLD_AES_KEY, appid=APPID,
                                timestamp=NOW)
    assert unwrap_request(body, query, token=TOKEN, crypto=crypto, now=NOW).xml == push()


def test_encrypted_push_without_configured_key() -> None:
    query, body = build_request(push(), token=TOKEN, aes_key=AES_KEY, appid=APPID, timestamp=NOW)
    with pytest.raises(BadCiphertext):
        unwrap_request(body, query, token=TOKEN, crypto=None, now=NOW)


def test_require_encrypted_refuses_plaintext(crypto: MessageCrypto) -> None:
    query, body = build_request(push(), token=TOKEN, timestamp=NOW)
    with pytest.raises(PlaintextRefused) as refused:
        unwrap_request(body, query, token=TOKEN, crypto=crypto, now=NOW, require_encrypted=True)
    assert "明文" in refused.value.message and "O2O_WECHAT_ACCEPT_PLAINTEXT" in refused.value.message
    for compat in (False, True):  # both encrypted modes still pass
        query, body = build_request(push(), token=TOKEN, aes_key=AES_KEY, appid=APPID,
                                    timestamp=NOW, compat=compat)
        assert unwrap_request(body, query, token=TOKEN, crypto=crypto, now=NOW,
                              require_encrypted=True).xml == push()


def test_check_openid() -> None:
    check_openid({"openid": "o_alice"}, "o_alice")
    check_openid({}, "o_alice")  # not every push URL carries it
    for other in ("o_bob", "", "o_alice "):
        with pytest.raises(OpenIdMismatch):
            check_openid({"openid": other}, "o_alice")


def test_wrong_plain_signature_in_safe_mode_is_refused(crypto: MessageCrypto) -> None:
    query, body = build_request(push(), token=TOKEN, aes_key=AES_KEY, appid=APPID, timestamp=NOW)
    query["signature"] = "0" * 40
    with pytest.raises(BadSignature):
        unwrap_request(body, query, token=TOKEN, crypto=crypto, now=NOW)


def test_missing_msg_signature_in_safe_mode(crypto: MessageCrypto) -> None:
    query, body = build_request(push(), token=TOKEN, aes_key=AES_KEY, appid=APPID, timestamp=NOW)
    del query["msg_signature"]
    with pytest.raises(BadSignature):
        unwrap_request(body, query, token=TOKEN, crypto=crypto, now=NOW)


def test_unknown_encrypt_type(crypto: MessageCrypto) -> None:
    query, body = build_request(push(), token=TOKEN, timestamp=NOW)
    query["encrypt_type"] = "rot13"
    with pytest.raises(BadCiphertext):
        unwrap_request(body, query, token=TOKEN, crypto=crypto, now=NOW)


def test_body_cap(crypto: MessageCrypto) -> None:
    query, body = build_request(push(), token=TOKEN, timestamp=NOW)
    with pytest.raises(BodyTooLarge):
        unwrap_request(body, query, token=TOKEN, now=NOW, max_bytes=len(body) - 1)
    assert unwrap_request(body, query, token=TOKEN, now=NOW, max_bytes=len(body)).xml == push()


def test_wrap_reply_encrypts_iff_the_push_was(crypto: MessageCrypto) -> None:
    reply = "<xml><Content><![CDATA[hi]]></Content></xml>"
    assert wrap_reply(reply, False, crypto=crypto) == reply
    assert wrap_reply("success", True, crypto=crypto) == "success"
    wrapped = wrap_reply(reply, True, crypto=crypto, nonce="99", timestamp=NOW)
    fields = parse_xml_fields(wrapped)
    assert fields["TimeStamp"] == str(NOW) and fields["Nonce"] == "99"
    assert crypto.decrypt(wrapped, fields["MsgSignature"], str(NOW), "99") == reply


def test_wrap_reply_without_crypto_cannot_encrypt() -> None:
    with pytest.raises(BadCiphertext):
        wrap_reply("<xml/>", True, crypto=None)


def test_verify_url_echoes_echostr() -> None:
    query = {"signature": signature_of(TOKEN, str(NOW), "5"), "timestamp": str(NOW), "nonce": "5",
             "echostr": "8446271472585838141"}
    assert verify_url(query, token=TOKEN, now=NOW) == "8446271472585838141"


@pytest.mark.parametrize("echostr", ["", "<script>alert(1)</script>", "a b", "x" * 300])
def test_verify_url_refuses_echostr_that_could_be_markup(echostr: str) -> None:
    query = {"signature": signature_of(TOKEN, str(NOW), "5"), "timestamp": str(NOW), "nonce": "5",
             "echostr": echostr}
    with pytest.raises(BadSignature):
        verify_url(query, token=TOKEN, now=NOW)


def test_verify_url_checks_signature_and_time() -> None:
    query = {"signature": signature_of(TOKEN, str(NOW), "5"), "timestamp": str(NOW), "nonce": "5",
             "echostr": "123"}
    with pytest.raises(BadSignature):
        verify_url(query, token="other", now=NOW)
    with pytest.raises(StaleTimestamp):
        verify_url(query, token=TOKEN, now=NOW + 3600)
