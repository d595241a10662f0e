"""Parsers of the DFU client: images, dfu_application.zip, SMP responses, image state.

Every parser either returns a value or raises mcuseal's own error, whatever the bytes.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuseal.dfu import mcumgr, protocol, smpframe
from mcuseal.dfu.package import (
    find_in_build_dir,
    load_image,
    load_path,
    load_zip,
    zephyr_version,
)
from mcuseal.errors import DfuDeviceError, DfuTransportError, InputError
from tests.dfu.fakes import fake_image, image_hash

cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def test_image_hash_and_version() -> None:
    data = fake_image(1000, version=(1, 2, 3, 0))
    img = load_image(data, name="x", image=1)
    assert img.hash == image_hash(data)
    assert (img.version, img.image, img.encrypted) == ("1.2.3", 1, False)
    assert zephyr_version(1, 2, 3, 4) == "1.2.3.4"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_load_image_parses_or_raises_input_error(data: bytes) -> None:
    try:
        load_image(data, name="fuzz")
    except InputError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=1071), st.integers(min_value=0, max_value=255))
def test_corrupting_an_image_parses_or_raises(position: int, value: int) -> None:
    data = bytearray(fake_image(1000))
    data[position] = value
    try:
        load_image(bytes(data), name="fuzz")
    except InputError:
        pass


def _zip(manifest: Any, files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        if manifest is not None:
            z.writestr(
                "manifest.json", manifest if isinstance(manifest, str) else json.dumps(manifest)
            )
        for name, blob in files.items():
            z.writestr(name, blob)
    return out.getvalue()


def test_ncs_zip_two_images_by_string_index() -> None:
    app, net = fake_image(500), fake_image(300, version=(1, 0, 0, 9))
    manifest = {
        "format-version": 1,
        "files": [
            {"type": "application", "image_index": "1", "file": "net.bin", "load_address": 1},
            {"type": "application", "image_index": "0", "file": "app.bin", "size": len(app)},
        ],
    }
    images = load_zip(_zip(manifest, {"app.bin": app, "net.bin": net}), name="z")
    assert [(i.image, i.data) for i in images] == [(0, app), (1, net)]


def test_zip_entry_without_index_is_image_0_and_mcuboot_entries_are_skipped() -> None:
    app = fake_image(500)
    manifest = {
        "format-version": 0,
        "files": [
            {"type": "application", "file": "app_update.bin"},
            {"type": "mcuboot", "file": "signed_by_b0_s0_image.bin"},
        ],
    }
    images = load_zip(_zip(manifest, {"app_update.bin": app}), name="z")
    assert [i.image for i in images] == [0]


@pytest.mark.parametrize(
    ("manifest", "files", "message"),
    [
        (None, {}, "no manifest.json"),
        ("{", {}, "not valid JSON"),
        ({"files": []}, {}, "no 'files' list"),
        ({"files": [{"file": "a.bin"}]}, {}, "not in the zip"),
        ({"files": [{"file": "a.bin", "image_index": "x"}]}, {"a.bin": b""}, "not a number"),
        ({"files": [{"file": "a.bin"}, {"file": "a.bin"}]}, {"a.bin": fake_image(100)}, "twice"),
        ({"files": [{"file": "a.bin"}]}, {"a.bin": b"zephyr.bin"}, "too short"),
    ],
)
def test_bad_zips_name_the_problem(manifest: Any, files: dict[str, bytes], message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_zip(_zip(manifest, files), name="z")


def test_empty_hex_and_empty_build_directories_are_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no dfu_application\.zip"):
        load_path(tmp_path)
    hexfile = tmp_path / "zephyr.signed.hex"
    hexfile.write_text(":00000001FF\n")
    with pytest.raises(InputError, match=r"zephyr\.signed\.hex: 0 B is too short"):
        load_path(hexfile)


@pytest.mark.parametrize("pad", [[], ["--pad", "--confirm"]])
def test_imgtool_hex_uploads_the_bytes_of_its_bin_twin(tmp_path: Path, pad: list[str]) -> None:
    # A padded .hex leaves the gap between image and trailer out; it reads as erased.
    # Ed25519: deterministic signatures, so both runs give the same bytes.
    imgtool = str(Path(sys.executable).with_name("imgtool"))
    key, raw = tmp_path / "k.pem", tmp_path / "app.raw"
    subprocess.run([imgtool, "keygen", "-k", str(key), "-t", "ed25519"], check=True)
    raw.write_bytes(bytes(range(256)) * 20)
    sign = [imgtool, "sign", "-k", str(key), "-H", "0x200", "--pad-header", "-v", "1.2.3"]
    sign += ["-S", "0x8000", "-x", "0x10000", *pad, str(raw)]
    for out in ("app.bin", "app.hex"):
        subprocess.run([*sign, str(tmp_path / out)], check=True, capture_output=True)
    (from_hex,) = load_path(tmp_path / "app.hex")
    assert from_hex.data == (tmp_path / "app.bin").read_bytes()


def test_build_directory_lookup(tmp_path: Path) -> None:
    app = fake_image(300)
    (tmp_path / "blinky" / "zephyr").mkdir(parents=True)
    (tmp_path / "domains.yaml").write_text("default: blinky\nbuild_dir: x\ndomains: []\n")
    for name in ("zephyr.signed.bin", "zephyr.signed.encrypted.bin"):
        (tmp_path / "blinky" / "zephyr" / name).write_bytes(app)
    assert find_in_build_dir(tmp_path).name == "zephyr.signed.encrypted.bin"
    assert [i.data for i in load_path(tmp_path)] == [app]
    (tmp_path / "dfu_application.zip").write_bytes(
        _zip({"files": [{"file": "a.bin"}]}, {"a.bin": app})
    )
    assert find_in_build_dir(tmp_path).name == "dfu_application.zip"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_response_parses_or_raises(frame: bytes) -> None:
    try:
        response = protocol.decode_response(frame)
    except DfuTransportError:
        return
    try:
        protocol.check(response, "fuzz")
    except DfuDeviceError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=10), cbor_values, max_size=5))
def test_response_bodies_check_or_raise(body: dict[str, Any]) -> None:
    frame = smpframe.encode_frame(smpframe.SmpHeader(1, 1, 0, 0, 1, 0, 0), body)
    try:
        protocol.check(protocol.decode_response(frame), "fuzz")
    except DfuDeviceError as err:
        assert "\n" not in str(err)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["images", "x"]), cbor_values, max_size=2))
def test_image_state_parses_or_raises(body: dict[str, Any]) -> None:
    try:
        mcumgr._parse_states(body)
    except DfuTransportError:
        pass


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"err": {"group": 1, "rc": 8}}, "IMAGE_MANAGEMENT error HASH_NOT_FOUND (8)"),
        ({"err": {"group": 0, "rc": 2}}, "OS_MANAGEMENT error INVALID_FORMAT (2)"),
        ({"err": {"group": 64, "rc": 5}}, "group 64 error rc 5"),
        ({"rc": 11}, "EACCESSDENIED (11)"),
        ({"rc": 6, "rsn": "pending"}, "EBADSTATE (6) (pending)"),
    ],
)
def test_errors_are_named(body: dict[str, Any], text: str) -> None:
    frame = smpframe.SmpHeader(3, 1, 0, 0, 1, 0, 0).dumps()[:2]
    frame += len(cbor2.dumps(body)).to_bytes(2, "big") + b"\x00\x01\x00\x00" + cbor2.dumps(body)
    with pytest.raises(DfuDeviceError, match=text.replace("(", r"\(").replace(")", r"\)")):
        protocol.check(protocol.decode_response(frame), "it")


def test_a_legacy_zero_rc_is_success() -> None:
    frame = smpframe.encode_frame(smpframe.SmpHeader(3, 0, 0, 0, 1, 0, 1), {"off": 5, "rc": 0})
    assert protocol.check(protocol.decode_response(frame), "upload") == {"off": 5, "rc": 0}
