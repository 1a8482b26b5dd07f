"""WeChat's message encryption (安全模式 / 兼容模式): AES-256-CBC over a framed plaintext.

wechatpy supplies the cipher and PKCS#7 padding; the framing is checked here strictly,
because wechatpy's own decrypt trusts the padding byte and the length field and raises bare
struct/Unicode errors on garbage. Frame: 16 random bytes | 4-byte big-endian length | xml |
appid. Decryption tries the current EncodingAESKey, then the previous ones (key rotation).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import struct
from collections.abc import Callable, Iterable

from wechatpy.crypto.cryptography import WeChatCipher
from wechatpy.crypto.pkcs7 import PKCS7Encoder

from o2o.errors import ConfigError
from o2o.wechat.errors import BadCiphertext, WrongAppId
from o2o.wechat.parsing import DEFAULT_MAX_BYTES, parse_xml_fields
from o2o.wechat.replies import cdata
from o2o.wechat.signing import signature_of, verify_signature

BLOCK = 16
PAD_BLOCK = PKCS7Encoder.block_size  # WeChat pads to 32 bytes, not AES's 16
#: Base64 of a ciphertext that big is not a WeChat message; refuse before decoding it.
MAX_CIPHERTEXT_CHARS = DEFAULT_MAX_BYTES


def aes_key_bytes(encoding_aes_key: str) -> bytes:
    """Decode a 43-character EncodingAESKey to its 32 bytes, or refuse the configuration."""
    if not isinstance(encoding_aes_key, str) or len(encoding_aes_key) != 43:
        raise ConfigError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise ConfigError("EncodingAESKey must decode to 32 bytes")
    return key


class MessageCrypto:
    """Encrypt replies with the current key; decrypt pushes with the current or a previous key."""

    def __init__(self, *, token: str, encoding_aes_key: str, appid: str,
                 previous_keys: Iterable[str] = (),
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        if not token or not appid:
            raise ConfigError("WeChat encryption needs a token and an appid")
        self.token = token
        self.appid = appid
        self._appid = appid.encode("utf-8")
        self._keys = [aes_key_bytes(encoding_aes_key)]
        self._keys += [aes_key_bytes(k) for k in previous_keys if k]
        self._random_bytes = random_bytes

    # -- payload ---------------------------------------------------------------------------

    def encrypt_payload(self, plaintext: str) -> str:
        """Return the base64 Encrypt value for plaintext, under the current key."""
        body = plaintext.encode("utf-8")
        framed = self._random_bytes(16) + struct.pack(">I", len(body)) + body + self._appid
        padded = PKCS7Encoder.encode(framed)
        return base64.b64encode(WeChatCipher(self._keys[0]).encrypt(padded)).decode("ascii")

    def decrypt_payload(self, encrypt: str) -> str:
        """Return the plaintext inside an Encrypt value; BadCiphertext / WrongAppId otherwise."""
        raw = _b64(encrypt)
        wrong_appid = False
        for key in self._keys:
            framed = _unpad(WeChatCipher(key).decrypt(raw))
            if framed is None:
                continue
            parsed = _unframe(framed)
            if parsed is None:
                continue
            xml, appid = parsed
            if hmac.compare_digest(appid, self._appid):
                return xml
            wrong_appid = True
        if wrong_appid:
            raise WrongAppId("the message was encrypted for another appid")
        raise BadCiphertext("the message does not decrypt under any configured EncodingAESKey")

    # -- envelope --------------------------------------------------------------------------

    def decrypt(self, xml_body: str | bytes, msg_signature: str | None, timestamp: str | None,
                nonce: str | None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
        """Check msg_signature over the Encrypt field, then return the decrypted plaintext XML."""
        fields = parse_xml_fields(xml_body, max_bytes=max_bytes)
        encrypt = fields.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt.strip():
            raise BadCiphertext("encrypted message without an Encrypt field")
        verify_signature(self.token, msg_signature, timestamp, nonce, encrypt)
        return self.decrypt_payload(encrypt)

    def encrypt(self, reply_xml: str, nonce: str, timestamp: str | int) -> str:
        """Wrap a reply in WeChat's encrypted envelope, signed with msg_signature."""
        encrypt = self.encrypt_payload(reply_xml)
        ts = str(timestamp)
        signature = signature_of(self.token, ts, nonce, encrypt)
        return (
            f"<xml><Encrypt>{cdata(encrypt)}</Encrypt>"
            f"<MsgSignature>{cdata(signature)}</MsgSignature>"
            f"<TimeStamp>{int(ts)}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
        )


def _b64(encrypt: str) -> bytes:
    """Strict base64 of whole AES blocks (at least the 16-byte random prefix plus a block)."""
    text = encrypt.strip()
    if len(text) > MAX_CIPHERTEXT_CHARS:
        raise BadCiphertext("Encrypt field too long")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadCiphertext("Encrypt field is not base64") from exc
    if len(raw) < 2 * BLOCK or len(raw) % BLOCK:
        raise BadCiphertext(f"ciphertext of {len(raw)} bytes is not whole AES blocks")
    return raw


def _unpad(plain: bytes) -> bytes | None:
    """Strip WeChat's PKCS#7 padding (1..32 bytes, all equal), or None if it is not there."""
    pad = plain[-1]
    if not 1 <= pad <= PAD_BLOCK or pad > len(plain):
        return None
    if not hmac.compare_digest(plain[-pad:], bytes([pad]) * pad):
        return None
    return plain[:-pad]


def _unframe(framed: bytes) -> tuple[str, bytes] | None:
    """Split random | length | xml | appid; None when the length or the UTF-8 does not hold."""
    if len(framed) < 20:
        return None
    (length,) = struct.unpack(">I", framed[16:20])
    if length > len(framed) - 20:
        return None
    try:
        xml = framed[20:20 + length].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return xml, framed[20 + length:]
