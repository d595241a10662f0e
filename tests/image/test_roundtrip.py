"""Property: sign -> parse -> verify -> decrypt round-trips for random payloads and options."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcuseal.image import (
    CryptographySigner,
    DeviceKey,
    EncryptionState,
    ImageVersion,
    ParsedImage,
    SignOptions,
    decrypt_image,
    key_wrapper_for,
    sign_image,
    verify_image,
)
from tests.image.conftest import KeySet

SIGNERS = [None, "sign-p256.pem", "sign-ed25519.pem", "sign-rsa2048.pem", "sign-p384.pem"]
ENCS = [None, "enc-p256.pem", "enc-x25519.pem", "enc-rsa2048.pem", "kek"]


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    enc = draw(st.sampled_from(ENCS))
    keylen = draw(st.sampled_from([128, 256]))
    hdr = draw(st.sampled_from([0x20, 0x80, 0x200]))
    zero_start = draw(st.booleans())
    pad = draw(st.booleans())
    opts = {
        "header_size": hdr,
        "pad_header": not zero_start,
        "version": ImageVersion(draw(st.integers(0, 255)), draw(st.integers(0, 255))),
        "slot_size": 0x10000,
        "encrypt_keylen": keylen,
        "hmac_sha": draw(st.sampled_from([256, 512])) if enc == "enc-x25519.pem" else "auto",
        "pad": pad,
        "confirm": pad and draw(st.booleans()),
        "erased_val": draw(st.sampled_from([0, 0xFF])),
        "max_align": draw(st.sampled_from([None, 16, 32])),
        "align": draw(st.sampled_from([1, 4, 8])),
        "security_counter": draw(st.sampled_from([None, "auto", 7])),
        "custom_tlvs": draw(st.sampled_from([(), ((0xA0, b"x"),)])),
        "clear": enc is not None and draw(st.booleans()),
    }
    return {
        "payload": draw(st.binary(max_size=3000)),
        "zero_start": zero_start,
        "signer": draw(st.sampled_from(SIGNERS)),
        "enc": enc,
        "opts": opts,
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cases())
def test_sign_parse_verify_decrypt(keys: KeySet, case: dict[str, Any]) -> None:
    opts = SignOptions(**case["opts"])
    payload: bytes = case["payload"]
    source = bytes(opts.header_size) + payload if case["zero_start"] else payload
    signer = CryptographySigner(keys.private[case["signer"]]) if case["signer"] else None
    enc_name = case["enc"]
    if enc_name == "kek":
        enc_key: Any = keys.kek[opts.encrypt_keylen]
    elif enc_name:
        enc_key = keys.private[enc_name]
    else:
        enc_key = None
    wrapper = key_wrapper_for(enc_key) if enc_key is not None else None
    out = sign_image(source, opts, signer=signer, encrypt_to=wrapper).to_bytes()

    parsed = ParsedImage.loads(out)
    assert parsed.header.hdr_size == opts.header_size
    assert (parsed.trailer is not None) == opts.pads
    if opts.pads:
        assert len(out) == opts.slot_size
    trusted = [keys.private[case["signer"]].public_key()] if signer else []
    device = DeviceKey(enc_key) if enc_key is not None else None
    report = verify_image(out, trusted_keys=trusted, device_key=device, slot_size=opts.slot_size)
    if wrapper is None:
        assert report.accepted and report.encryption is EncryptionState.NOT_ENCRYPTED
        return
    assert device is not None
    if opts.clear and parsed.payload_size > 0:
        assert not report.accepted and report.encryption is EncryptionState.CLEAR
        assert verify_image(out, trusted_keys=trusted, slot="primary").accepted
        return
    assert report.accepted, report.checks
    assert report.encryption is EncryptionState.ENCRYPTED
    dec = decrypt_image(out, device)
    assert dec.payload[: len(payload)] == payload
    assert dec.payload[len(payload) :] == bytes(len(dec.payload) - len(payload))
    assert verify_image(dec.clear_image(), trusted_keys=trusted, slot="primary").accepted
