"""Arbitrary bytes given as key, KEK or argument text either parse or raise mcuseal's error."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mcuseal.errors import McusealError
from mcuseal.keys import KEK_SIZES, load_key_or_kek, parse_kek

PEM_LIKE = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda kind, body: b"-----BEGIN " + kind + b"-----\n" + body + b"\n-----END " + kind
        + b"-----\n",
        st.sampled_from(
            [b"PRIVATE KEY", b"PUBLIC KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"]
        ),
        st.binary(max_size=200),
    ),
    st.builds(lambda body: b"\x30\x82" + body, st.binary(max_size=300)),
)  # fmt: skip


@given(st.binary(max_size=200))
def test_parse_kek_total(data: bytes) -> None:
    try:
        kek = parse_kek(data)
    except McusealError as err:
        assert "\n" not in str(err)
    else:
        assert len(kek) in KEK_SIZES


@settings(max_examples=150, deadline=None)
@given(PEM_LIKE)
def test_key_files_total(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "key"
        path.write_bytes(data)
        path.chmod(0o600)
        try:
            load_key_or_kek(path)
        except McusealError as err:
            assert "\n" not in str(err)


@given(st.text(max_size=60))
def test_dependency_text_total(text: str) -> None:
    from mcuseal.cli.sign import parse_dependencies

    try:
        deps = parse_dependencies(text)
    except McusealError as err:
        assert "\n" not in str(err)
    else:
        assert deps
        assert str(deps[0][1]) in text or deps[0][1].build == 0
