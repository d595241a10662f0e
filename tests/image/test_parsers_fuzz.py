"""Every mcuseal.image parser either succeeds or raises mcuseal's own error on arbitrary input."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcuseal.errors import ImageError, InputError, KeyError_
from mcuseal.image import DeviceKey, ImageVersion, UnwrapError, verify_image
from mcuseal.image.crypto import load_public_key_bytes
from mcuseal.image.hexfile import load_hex
from tests.image.conftest import KeySet

_HEXISH = st.text(alphabet=":0123456789ABCDEFabcdef\n\r xyz", max_size=300)


@given(st.one_of(st.binary(max_size=300), _HEXISH.map(str.encode)))
def test_load_hex_parses_or_raises(data: bytes) -> None:
    try:
        base, body = load_hex(data)
    except InputError:
        return
    assert (base is None and body == b"") or (base is not None and base >= 0 and body)


@given(st.text(max_size=30))
def test_version_parse_or_raise(text: str) -> None:
    try:
        ImageVersion.parse(text)
    except ImageError:
        pass


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    st.sampled_from(["enc-p256.pem", "enc-x25519.pem", "enc-rsa2048.pem", "kek"]),
    st.integers(0x30, 0x34),
    st.binary(max_size=300),
    st.sampled_from([128, 256]),
)
def test_unwrap_arbitrary_tlvs(
    keys: KeySet, name: str, tlv_type: int, value: bytes, bits: int
) -> None:
    key = keys.kek[bits] if name == "kek" else keys.private[name]
    try:
        DeviceKey(key).unwrap(tlv_type, value, bits)
    except UnwrapError:
        pass


@given(st.binary(max_size=200))
def test_public_key_bytes_parse_or_raise(data: bytes) -> None:
    try:
        load_public_key_bytes(data)
    except KeyError_:
        pass


@given(st.binary(max_size=400))
def test_verify_never_raises_on_garbage(data: bytes) -> None:
    report = verify_image(data)
    assert report.accepted in (True, False)


@given(st.binary(min_size=1, max_size=600), st.integers(0, 0xFFFF_0000))
def test_hex_round_trip(data: bytes, base: int) -> None:
    from mcuseal.image.hexfile import dump_hex

    assert load_hex(dump_hex(data, base).encode()) == (base, data)
