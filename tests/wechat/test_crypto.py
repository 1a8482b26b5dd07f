"""MessageCrypto: the published vectors, round trips, key rotation, wrong keys and appids."""

from __future__ import annotations

import base64
import struct

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.crypto.cryptography import WeChatCipher

from o2o.errors import ConfigError
from o2o.wechat.crypto import MessageCrypto, aes_key_bytes
from o2o.wechat.errors import BadCiphertext, BadSignature, WrongAppId
from o2o.wechat.parsing import parse_xml_fields
from o2o.wechat.signing import signature_of

from .vectors import AES_KEY, APPID, OFFICIAL, OLD_AES_KEY, TOKEN, WECHATPY_ENCRYPT


def official() -> MessageCrypto:
    return MessageCrypto(token=OFFICIAL["token"], encoding_aes_key=OFFICIAL["aes_key"],
                         appid=OFFICIAL["appid"])


def test_official_vector_decrypts_to_the_published_plaintext() -> None:
    plain = official().decrypt(OFFICIAL["body"], OFFICIAL["msg_signature"],
                               OFFICIAL["timestamp"], OFFICIAL["nonce"])
    assert plain == OFFICIAL["plaintext"]


def test_official_vector_with_a_flipped_signature_digit_is_refused() -> None:
    bad = OFFICIAL["msg_signature"][:-1] + "0"
    with pytest.raises(BadSignature):
        official().decrypt(OFFICIAL["body"], bad, OFFICIAL["timestamp"], OFFICIAL["nonce"])


def test_official_vector_under_another_appid_is_wrong_appid() -> None:
    crypto = MessageCrypto(token=OFFICIAL["token"], encoding_aes_key=OFFICIAL["aes_key"],
                           appid="wx0000000000000000")
    with pytest.raises(WrongAppId):
        crypto.decrypt(OFFICIAL["body"], OFFICIAL["msg_signature"], OFFICIAL["timestamp"],
                       OFFICIAL["nonce"])


def test_encryption_matches_wechatpy_vector_byte_for_byte() -> None:
    v = WECHATPY_ENCRYPT
    crypto = MessageCrypto(token=v["token"], encoding_aes_key=v["aes_key"], appid=v["appid"],
                           random_bytes=lambda n: v["random"][:n])
    envelope = parse_xml_fields(crypto.encrypt(v["reply"], v["nonce"], v["timestamp"]))
    assert envelope["Encrypt"] == v["encrypt"]
    assert envelope["MsgSignature"] == v["msg_signature"]
    assert envelope["TimeStamp"] == v["timestamp"]
    assert envelope["Nonce"] == v["nonce"]


def test_round_trip_with_chinese_emoji_and_cdata_terminator() -> None:
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    reply = "<xml><Content><![CDATA[第二杯半价 🍵 ]]]]><![CDATA[>]]></Content></xml>"
    envelope = crypto.encrypt(reply, "12345", 1_700_000_000)
    fields = parse_xml_fields(envelope)
    assert crypto.decrypt(envelope, fields["MsgSignature"], "1700000000", "12345") == reply


def test_wechatpy_reads_what_we_write_and_we_read_what_it_writes() -> None:
    ours = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    theirs = WeChatCrypto(TOKEN, AES_KEY, APPID)
    envelope = ours.encrypt("<xml><A>我们</A></xml>", "777", "1700000001")
    sig = parse_xml_fields(envelope)["MsgSignature"]
    assert theirs.decrypt_message(envelope, sig, "1700000001", "777") == "<xml><A>我们</A></xml>"
    envelope = theirs.encrypt_message("<xml><B>他们</B></xml>", "888", "1700000002")
    sig = parse_xml_fields(envelope)["MsgSignature"]
    assert ours.decrypt(envelope, sig, "1700000002", "888") == "<xml><B>他们</B></xml>"


def test_random_prefix_makes_each_ciphertext_different() -> None:
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    assert crypto.encrypt_payload("<xml/>") != crypto.encrypt_payload("<xml/>")


def test_rotation_previous_key_still_decrypts_and_replies_use_the_new_key() -> None:
    before = MessageCrypto(token=TOKEN, encoding_aes_key=OLD_AES_KEY, appid=APPID)
    during = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID,
                           previous_keys=[OLD_AES_KEY])
    after = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    old_push = before.encrypt_payload("<xml>old</xml>")
    assert during.decrypt_payload(old_push) == "<xml>old</xml>"
    reply = during.encrypt_payload("<xml>reply</xml>")
    assert after.decrypt_payload(reply) == "<xml>reply</xml>"
    with pytest.raises(BadCiphertext):
        before.decrypt_payload(reply)
    with pytest.raises(BadCiphertext):
        after.decrypt_payload(old_push)


def test_wrong_key_is_bad_ciphertext_not_wrong_appid() -> None:
    writer = MessageCrypto(token=TOKEN, encoding_aes_key=OLD_AES_KEY, appid=APPID)
    reader = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    with pytest.raises(BadCiphertext) as caught:
        reader.decrypt_payload(writer.encrypt_payload("<xml>secret</xml>"))
    assert type(caught.value) is BadCiphertext


def test_wrong_appid_under_the_right_key() -> None:
    writer = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid="wxsomebodyelse00")
    reader = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    with pytest.raises(WrongAppId):
        reader.decrypt_payload(writer.encrypt_payload("<xml>x</xml>"))


def _encrypt_frame(frame: bytes, padded_to: int = 32) -> str:
    """Encrypt an arbitrary (possibly malformed) frame under AES_KEY, as an attacker with the key could not."""
    key = aes_key_bytes(AES_KEY)
    pad = padded_to - len(frame) % padded_to
    return base64.b64encode(WeChatCipher(key).encrypt(frame + bytes([pad]) * pad)).decode()


@pytest.mark.parametrize("frame", [
    b"0" * 16 + struct.pack(">I", 10**6) + b"<xml/>" + APPID.encode(),   # length beyond the frame
    b"0" * 16 + struct.pack(">I", 2) + b"\xff\xfe" + APPID.encode(),     # not UTF-8
    b"0" * 18,                                                          # shorter than the header
])
def test_badly_framed_plaintext_under_the_right_key(frame: bytes) -> None:
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    with pytest.raises(BadCiphertext):
        crypto.decrypt_payload(_encrypt_frame(frame))


def test_bad_padding_is_refused() -> None:
    key = aes_key_bytes(AES_KEY)
    frame = b"0" * 16 + struct.pack(">I", 6) + b"<xml/>" + APPID.encode()
    frame += b"\x00" * (-len(frame) % 16)  # pad byte 0 is not PKCS#7
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    with pytest.raises(BadCiphertext):
        crypto.decrypt_payload(base64.b64encode(WeChatCipher(key).encrypt(frame)).decode())


def test_well_framed_hand_made_ciphertext_decrypts() -> None:
    frame = b"0" * 16 + struct.pack(">I", 6) + b"<xml/>" + APPID.encode()
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    assert crypto.decrypt_payload(_encrypt_frame(frame)) == "<xml/>"


def test_envelope_without_encrypt_field() -> None:
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, appid=APPID)
    sig = signature_of(TOKEN, "1", "2", "")
    with pytest.raises(BadCiphertext):
        crypto.decrypt("<xml><ToUserName>x</ToUserName></xml>", sig, "1", "2")


@pytest.mark.parametrize("key", ["short", "a" * 44, "!" * 43, ""])
def test_bad_encoding_aes_key_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError):
        MessageCrypto(token=TOKEN, encoding_aes_key=key, appid=APPID)


def test_aes_key_decodes_to_32_bytes() -> None:
    assert aes_key_bytes(AES_KEY) == base64.b64decode(AES_KEY + "=")
    assert len(aes_key_bytes(AES_KEY)) == 32
