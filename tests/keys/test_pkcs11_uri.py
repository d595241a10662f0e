"""RFC 7512 PKCS#11 URI parsing: the RFC's examples, error messages, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuseal.errors import EXIT_BAD_INPUT, KeyError_
from mcuseal.keys.pkcs11 import ObjectType, Pkcs11Uri, is_pkcs11_uri, resolve_pin

# RFC 7512 section 3 examples, with what they must parse to.
RFC_EXAMPLES = [
    ("pkcs11:", Pkcs11Uri()),
    ("pkcs11:object=my-pubkey;type=public", Pkcs11Uri(object="my-pubkey", type=ObjectType.PUBLIC)),
    (
        "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
        Pkcs11Uri(object="my-key", type=ObjectType.PRIVATE, pin_source="file:/etc/token"),
    ),
    (
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
        "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;"
        "id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
        Pkcs11Uri(
            token="The Software PKCS#11 Softtoken",
            manufacturer="Snake Oil, Inc.",
            model="1.0",
            object="my-certificate",
            type=ObjectType.CERT,
            id=bytes.fromhex("69953e5cf4bdec91"),
            serial="",
            pin_source="file:/etc/token_pin",
        ),
    ),
    (
        "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
        Pkcs11Uri(object="my-sign-key", type=ObjectType.PRIVATE, module_name="mypkcs11"),
    ),
    (
        "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
        Pkcs11Uri(
            object="my-sign-key", type=ObjectType.PRIVATE, module_path="/mnt/libmypkcs11.so.1"
        ),
    ),
    (
        "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc."
        "?pin-value=the-pin",
        Pkcs11Uri(
            token="Software PKCS#11 softtoken", manufacturer="Snake Oil, Inc.", pin_value="the-pin"
        ),
    ),
    ("pkcs11:slot-description=Sun%20Metaslot", Pkcs11Uri(slot_description="Sun Metaslot")),
    (
        "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
        "library-description=Soft%20Token%20Library;library-version=1.23",
        Pkcs11Uri(
            library_manufacturer="Snake Oil, Inc.",
            library_description="Soft Token Library",
            library_version=(1, 23),
        ),
    ),
    (
        "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
        Pkcs11Uri(
            token="A name with a substring %;", object="my-certificate", type=ObjectType.CERT
        ),
    ),
    (
        "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;"
        "object=my-certificate;type=cert",
        Pkcs11Uri(
            token="Name with a small A with acute: \u00e1",
            object="my-certificate",
            type=ObjectType.CERT,
        ),
    ),
    ("pkcs11:slot-id=42", Pkcs11Uri(slot_id=42)),
    ("PKCS11:token=upper-case-scheme", Pkcs11Uri(token="upper-case-scheme")),
]


@pytest.mark.parametrize(("text", "expected"), RFC_EXAMPLES)
def test_rfc_examples(text: str, expected: Pkcs11Uri) -> None:
    parsed = Pkcs11Uri.loads(text)
    assert parsed == expected
    assert Pkcs11Uri.loads(parsed.dumps()) == parsed


def test_dumps_is_canonical() -> None:
    uri = Pkcs11Uri(token="My Token", object="sign;key", id=b"\x01\xab", type=ObjectType.PRIVATE)
    assert uri.dumps() == "pkcs11:token=My%20Token;object=sign%3Bkey;type=private;id=%01%AB"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("/path/key.pem", "is not a PKCS#11 URI"),
        ("pkcs11:token", "has no '='"),
        ("pkcs11:token=a;token=b", "'token' appears twice"),
        ("pkcs11:Token=a", "unknown PKCS#11 URI attribute 'Token'"),
        ("pkcs11:x-vendor=1", "unknown PKCS#11 URI attribute 'x-vendor'"),
        (
            "pkcs11:token=my-token;vendor-aaa=value-a?pin-source=file:/etc/token_pin",
            "unknown PKCS#11 URI attribute 'vendor-aaa'",
        ),
        ("pkcs11:pin-value=1234", "'pin-value' belongs after '?'"),
        ("pkcs11:?token=a", "'token' belongs before '?'"),
        ("pkcs11:token=a?", "empty query"),
        ("pkcs11:type=secret", "type='secret' is not one of"),
        ("pkcs11:id=%0", "bad percent escape"),
        ("pkcs11:id=%zz", "bad percent escape"),
        ("pkcs11:token=%ff", "not UTF-8"),
        ("pkcs11:slot-id=-1", "not a slot number"),
        ("pkcs11:slot-id=18446744073709551616", "not a slot number"),
        ("pkcs11:library-version=1.2.3", "not M or M.N"),
        ("pkcs11:token=a#frag", "must not contain '#'"),
        ("pkcs11:?pin-source=/a&pin-value=b", "both pin-source and pin-value"),
    ],
)
def test_bad_uris(text: str, needle: str) -> None:
    with pytest.raises(KeyError_) as exc:
        Pkcs11Uri.loads(text)
    assert needle in str(exc.value)
    assert "\n" not in str(exc.value)
    assert exc.value.exit_code == EXIT_BAD_INPUT


def test_pin_value_hidden_from_repr_and_describe() -> None:
    uri = Pkcs11Uri.loads("pkcs11:token=t?pin-value=s3cr3t-PIN")
    assert "s3cr3t-PIN" not in repr(uri)
    assert "s3cr3t-PIN" not in uri.describe()
    assert "pin-value=***" in uri.describe()
    assert "s3cr3t-PIN" in uri.dumps()  # dumps() is the faithful form


def test_pin_source_command_refused() -> None:
    with pytest.raises(KeyError_, match=r"pin-source commands \('\|program'\) are not supported"):
        resolve_pin(Pkcs11Uri.loads("pkcs11:?pin-source=%7C/usr/bin/get-pin"))


def test_pin_source_missing_file(tmp_path: object) -> None:
    with pytest.raises(KeyError_, match="pin-source /nonexistent/pin does not exist"):
        resolve_pin(Pkcs11Uri.loads("pkcs11:?pin-source=file:///nonexistent/pin"))


def test_is_pkcs11_uri() -> None:
    assert is_pkcs11_uri("pkcs11:token=a")
    assert is_pkcs11_uri("Pkcs11:")
    assert not is_pkcs11_uri("keys/root.pem")
    assert not is_pkcs11_uri("pkcs11")
    assert not is_pkcs11_uri(None)


# -- properties ----------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
_opt_text = st.none() | _text

uris = st.builds(
    Pkcs11Uri,
    library_description=_opt_text,
    library_manufacturer=_opt_text,
    library_version=st.none() | st.tuples(st.integers(0, 255), st.integers(0, 255)),
    manufacturer=_opt_text,
    model=_opt_text,
    object=_opt_text,
    serial=_opt_text,
    slot_description=_opt_text,
    slot_id=st.none() | st.integers(0, 2**64 - 1),
    slot_manufacturer=_opt_text,
    token=_opt_text,
    type=st.none() | st.sampled_from(ObjectType),
    id=st.none() | st.binary(max_size=16),
    module_name=_opt_text,
    module_path=_opt_text,
    pin_source=_opt_text,
).flatmap(
    lambda u: (
        st.just(u)
        if u.pin_source is not None
        else st.builds(lambda pin: Pkcs11Uri(**{**u.__dict__, "pin_value": pin}), _opt_text)
    )
)


@given(uris)
def test_round_trip(uri: Pkcs11Uri) -> None:
    assert Pkcs11Uri.loads(uri.dumps()) == uri


@given(uris, st.text(min_size=8, max_size=16, alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ"))
def test_describe_never_shows_the_pin(uri: Pkcs11Uri, pin: str) -> None:
    secret = Pkcs11Uri(**{**uri.__dict__, "pin_source": None, "pin_value": "pin-" + pin})
    assert "pin-" + pin in secret.dumps()
    assert "pin-" + pin not in secret.describe()
    assert "pin-" + pin not in repr(secret)


@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_key_error(text: str) -> None:
    try:
        uri = Pkcs11Uri.loads("pkcs11:" + text)
    except KeyError_ as err:
        assert "\n" not in str(err)
    else:
        assert Pkcs11Uri.loads(uri.dumps()) == uri


_PIECES = ["token=", "object=", "id=", ";", "?", "&", "%", "%4", "=", "a", "pin-value="]
_PIECES += ["type=private", "slot-id=", "1", "library-version=", ".", "%C3", "%A1"]


@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_structured_garbage_parses_or_raises_key_error(parts: list[str]) -> None:
    try:
        uri = Pkcs11Uri.loads("pkcs11:" + "".join(parts))
    except KeyError_ as err:
        assert "\n" not in str(err)
    else:
        assert Pkcs11Uri.loads(uri.dumps()) == uri


# -- public-key attributes read from a token are parsed defensively too ---------------------


class _TokenObject:
    """The attributes of a public key object as a token returns them (any bytes at all)."""

    def __init__(self, key_type: object, attrs: dict[object, bytes]) -> None:
        self.key_type = key_type
        self._attrs = attrs

    def __getitem__(self, name: object) -> bytes:
        return self._attrs[name]


@given(
    st.sampled_from(["EC", "EC_EDWARDS", "RSA", "DSA", 0x41]),
    st.binary(max_size=40)
    | st.sampled_from(["06082a8648ce3d030107", "06032b6570"]).map(bytes.fromhex),
    st.binary(max_size=100),
)
def test_token_public_key_attributes_parse_or_raise_key_error(
    key_type: str | int, params: bytes, point: bytes
) -> None:
    import pkcs11
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from mcuseal.keys.pkcs11 import _public_from_attributes

    attrs = {
        pkcs11.Attribute.EC_PARAMS: params,
        pkcs11.Attribute.EC_POINT: point,
        pkcs11.Attribute.MODULUS: point,
        pkcs11.Attribute.PUBLIC_EXPONENT: params,
        pkcs11.Attribute.LABEL: b"x",
    }
    kind = key_type if isinstance(key_type, int) else getattr(pkcs11.KeyType, key_type)
    obj = _TokenObject(kind, attrs)
    try:
        key = _public_from_attributes(obj, "token")
    except KeyError_ as err:
        assert "\n" not in str(err)
    else:
        assert isinstance(key, PublicKeyTypes.__args__)  # type: ignore[attr-defined]
