"""RFC 8291 message encryption (app.notify.pushcrypto) against the RFC's own example and the reference http_ece."""

from __future__ import annotations

import base64
import os

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.notify.pushcrypto import RECORD_OVERHEAD, RECORD_SIZE, encrypt_aes128gcm


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def private_key(raw: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64d(raw), "big"), ec.SECP256R1())


def device() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    """A browser's subscription keys: its private key, p256dh (uncompressed point) and auth secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return key, public, os.urandom(16)


# RFC 8291 Appendix A ("Intermediate Values for Encryption").
RFC = {
    "plaintext": b"When I grow up, I want to be a watermelon",
    "as_private": "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
    "as_public": "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
    "ua_private": "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
    "ua_public": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
    "salt": "DGv6ra1nlYgDCS1FRnbzlw",
    "auth_secret": "BTBZMqHH6r4Tts7J_aSIgg",
    "body": "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6P"
            "Bru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}


def test_the_rfc_8291_example_byte_for_byte():
    body = encrypt_aes128gcm(RFC["plaintext"], b64d(RFC["ua_public"]), b64d(RFC["auth_secret"]),
                             salt=b64d(RFC["salt"]), as_private=private_key(RFC["as_private"]))
    assert body == b64d(RFC["body"])


def test_the_rfc_example_body_decrypts_with_the_reference():
    plaintext = http_ece.decrypt(b64d(RFC["body"]), private_key=private_key(RFC["ua_private"]),
                                 auth_secret=b64d(RFC["auth_secret"]), version="aes128gcm")
    assert plaintext == RFC["plaintext"]


@pytest.mark.parametrize("size", [0, 1, 150, 3000, RECORD_SIZE - RECORD_OVERHEAD])
def test_what_it_encrypts_the_reference_decrypts(size):
    key, p256dh, auth = device()
    plaintext = os.urandom(size)
    body = encrypt_aes128gcm(plaintext, p256dh, auth)
    assert http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm") == plaintext
    assert len(body) == 86 + size + RECORD_OVERHEAD  # one record: the header, the plaintext, delimiter and tag


def test_the_same_as_the_reference_for_the_same_key_and_salt():
    _, p256dh, auth = device()
    as_private, salt = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
    plaintext = b'{"title":"WO-000042 assigned","body":"\xe6\x9b\xbf\xe6\x8d\xa2\xe9\x98\x80\xe9\x97\xa8"}'
    reference = http_ece.encrypt(plaintext, salt=salt, private_key=as_private, dh=p256dh, auth_secret=auth,
                                 version="aes128gcm")
    assert encrypt_aes128gcm(plaintext, p256dh, auth, salt=salt, as_private=as_private) == reference


def test_every_message_has_its_own_key_pair_and_salt():
    """RFC 8291 §3.1: "When sending a push message, the application server also generates a new ECDH key pair";
    RFC 8188: a new salt for every message. Same plaintext, same subscription: nothing in the header repeats."""
    _, p256dh, auth = device()
    bodies = [encrypt_aes128gcm(b"same", p256dh, auth) for _ in range(20)]
    salts = {b[:16] for b in bodies}
    keys = {b[21:86] for b in bodies}
    assert len(salts) == len(keys) == 20
    for body in bodies:
        assert body[16:20] == RECORD_SIZE.to_bytes(4, "big") and body[20] == 65 and body[21] == 0x04


def test_a_key_that_is_not_a_point_on_the_curve_is_refused():
    with pytest.raises(ValueError):
        encrypt_aes128gcm(b"x", b"\x04" + b"\x01" * 64, os.urandom(16))


def test_a_plaintext_longer_than_one_record_is_refused():
    _, p256dh, auth = device()
    with pytest.raises(ValueError):
        encrypt_aes128gcm(b"x" * (RECORD_SIZE - RECORD_OVERHEAD + 1), p256dh, auth)
