"""Message encryption for Web Push (RFC 8291) in the ``aes128gcm`` content coding (RFC 8188).

No Flask, no database; used by :class:`app.notify.webpush.WebPushSender`. Every primitive comes from
``cryptography`` (P-256 ECDH, HKDF-SHA-256, AES-128-GCM); this module only arranges them as RFC 8291 §3.4
says, with the header of RFC 8188 §2.1. It does what ``http_ece.encrypt(..., version="aes128gcm")`` does for
pywebpush, for the one case Web Push needs (one record), without its per-call overhead; the tests check the
RFC 8291 Appendix A example byte for byte and decrypt its output with ``http_ece``.

Per message, as RFC 8291 §2 and §3.1 require: a new ECDH key pair for the application server ("When sending a
push message, the application server also generates a new ECDH key pair"; it "can be discarded after
encrypting the message") and a new random 16-byte salt. Neither is ever reused.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

__all__ = ["RECORD_SIZE", "RECORD_OVERHEAD", "encrypt_aes128gcm"]

#: The record size declared in the header (RFC 8188 ``rs``), as http_ece and the browsers' examples use.
RECORD_SIZE = 4096
#: What one record adds to the plaintext: the padding delimiter (1 byte) and the AES-GCM tag (16 bytes).
RECORD_OVERHEAD = 17

_SHA256 = hashes.SHA256()
_P256 = ec.SECP256R1()
_ECDH = ec.ECDH()
_KEY_INFO = b"WebPush: info\x00"
_CEK_INFO = b"Content-Encoding: aes128gcm\x00"
_NONCE_INFO = b"Content-Encoding: nonce\x00"
_LAST_RECORD = b"\x02"  # the delimiter of the last (here: only) record, RFC 8188 §2
_RS_AND_IDLEN = RECORD_SIZE.to_bytes(4, "big") + bytes([65])  # keyid = the 65-byte uncompressed as_public


def encrypt_aes128gcm(
    plaintext: bytes,
    ua_public: bytes,
    auth_secret: bytes,
    *,
    salt: bytes | None = None,
    as_private: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """Encrypt one push message for a subscription; returns the whole request body.

    :param ua_public: the subscription's ``p256dh`` key, a 65-byte uncompressed P-256 point.
    :param auth_secret: the subscription's 16-byte ``auth`` secret.
    :param salt: and
    :param as_private: only for tests (the RFC's example): by default both are new for every message.
    :raises ValueError: ``ua_public`` is not a point on P-256, or the plaintext does not fit one record.

    The body is ``salt(16) || rs(4) || idlen(1) || as_public(65) || AES-128-GCM(CEK, NONCE, plaintext || 0x02)``
    with (RFC 8291 §3.4)::

        ecdh_secret = ECDH(as_private, ua_public)
        IKM   = HKDF(salt=auth_secret, ikm=ecdh_secret, info="WebPush: info" || 0x00 || ua_public || as_public, L=32)
        CEK   = HKDF(salt, IKM, "Content-Encoding: aes128gcm" || 0x00, 16)
        NONCE = HKDF(salt, IKM, "Content-Encoding: nonce" || 0x00, 12)
    """
    if len(plaintext) > RECORD_SIZE - RECORD_OVERHEAD:
        raise ValueError("the plaintext does not fit one aes128gcm record")
    # Raises ValueError for anything that is not a valid point on the curve.
    ua_key = ec.EllipticCurvePublicKey.from_encoded_point(_P256, ua_public)
    if as_private is None:
        as_private = ec.generate_private_key(_P256)
    if salt is None:
        salt = os.urandom(16)
    as_public = as_private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    ecdh_secret = as_private.exchange(_ECDH, ua_key)
    ikm = HKDF(_SHA256, 32, auth_secret, _KEY_INFO + ua_public + as_public).derive(ecdh_secret)
    prk = HKDF.extract(_SHA256, salt, ikm)
    cek = HKDFExpand(_SHA256, 16, _CEK_INFO).derive(prk)
    nonce = HKDFExpand(_SHA256, 12, _NONCE_INFO).derive(prk)
    # Record counter 0: the nonce is used as derived (RFC 8188 §2.3).
    return salt + _RS_AND_IDLEN + as_public + AESGCM(cek).encrypt(nonce, plaintext + _LAST_RECORD, None)
