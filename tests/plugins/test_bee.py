"""BEE: byte-exact against SPSDK (golden files from NXP's image_enc, and nxpimage runs)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuseal.cli import main
from mcuseal.errors import DumpFormatError, EngineUnsupported, InputError
from mcuseal.plugins import SlotLayout, XipRequest
from mcuseal.plugins import bee as beemod
from mcuseal.plugins.bee import (
    SW_KEY_LE_WORDS,
    SW_KEY_REVERSED,
    BeeEngine,
    Kib,
    decode_block,
    mcuboot_config_block,
    mcuboot_prdb,
)
from mcuseal.plugins.metadata import TrailerVersion
from mcuseal.plugins.nxpimage import NxpimageConfig
from mcuseal.testing import check_engine_conformance, sample_image
from tests.plugins.spsdk_oracle import VECTORS, check_vectors, run_both

GOLDEN = VECTORS / "bee"
USER_KEY = "0123456789abcdeffedcba9876543210"
RT1060 = SlotLayout(0x6000_0000, 0x6004_0000, 0x6024_0000, 0x20_0000, 0x1000, 0x100, 0x6044_0000)


def test_vectors_are_intact() -> None:
    check_vectors(GOLDEN)


def test_image_enc_golden_vector(tmp_path: Path) -> None:
    """NXP's independent image_enc output, from the two headers in bee_config.yaml."""
    shutil.copytree(GOLDEN, tmp_path / "cfg")
    result = beemod.export_nxpimage(NxpimageConfig.load_file(tmp_path / "cfg" / "bee_config.yaml"))
    files = {Path(f.name).name: f.data for f in result.files}
    assert set(files) == {"encrypted.bin", "bee_ehdr0.bin", "bee_ehdr1.bin"}
    assert (
        files["encrypted.bin"]
        == (GOLDEN / "evkbimxrt1050_iled_blinky_ext_FLASH_bootable_nopadding.bin").read_bytes()
    )
    assert files["bee_ehdr0.bin"] == (GOLDEN / "bee_ehdr0.bin").read_bytes()
    assert files["bee_ehdr1.bin"] == (GOLDEN / "bee_ehdr1.bin").read_bytes()


def test_golden_headers_decode_with_the_user_key() -> None:
    decoded = decode_block(
        (GOLDEN / "bee_ehdr0.bin").read_bytes(), bytes.fromhex(USER_KEY), layout="rom"
    )
    assert decoded.prdb.nonce.hex() == "8c9c0131505f09424f843814"
    assert decoded.prdb.region() == (0x60001000, 0x60002000)
    assert not decoded.problems


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def _data(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes((i * 7 + seed) & 0xFF for i in range(size)))


def _config_hex(root: Path, family: str) -> str:
    """bee_cfg, engine0, all values as hex, data in a sub-folder."""
    _data(root / "in" / "app.bin", 0x2000, 1)
    _write(
        root / "bee.yaml",
        f"""\
        family: {family}
        output_folder: out
        data_blobs:
          - data: in/app.bin
            address: "0x60040000"
        engine_selection: engine0
        bee_engine:
          - bee_cfg:
              user_key: "{USER_KEY}"
              engine_key: "0x000102030405060708090a0b0c0d0e0f"
              engine_iv: "101112131415161718191a1b1c1d1e1f"
              engine_counter: "0xa0a1a2a3a4a5a6a7a8a9aaab"
              protected_region:
                - start_address: 0x60040000
                  length: 0x1000
                  protected_level: 0
                - start_address: "0x60041400"
                  length: "0x800"
                  protected_level: 2
        """,
    )
    return "bee.yaml"


def _config_files(root: Path, family: str) -> str:
    """bee_cfg for both engines, keys in binary and hex-text files, two blobs with a gap."""
    (root / "keys").mkdir(parents=True)
    (root / "keys" / "user.bin").write_bytes(bytes.fromhex(USER_KEY))
    (root / "keys" / "kib_key.txt").write_text("00112233445566778899aabbccddeeff\n")
    (root / "keys" / "iv.bin").write_bytes(bytes(range(16, 32)))
    (root / "keys" / "ctr.txt").write_text("0x0102030405060708090a0b0c")
    _data(root / "a.bin", 0x1000, 2)
    _data(root / "b.bin", 0x800, 3)
    _write(
        root / "cfg" / "bee.yaml",
        f"""\
        family: {family}
        output_folder: ../build
        output_name: image_enc
        header_name: hdr
        data_blobs:
          - data: ../a.bin
            address: 0x60001000
          - data: ../b.bin
            address: 0x60003000
        engine_selection: both
        bee_engine:
          - bee_cfg:
              user_key: ../keys/user.bin
              engine_key: ../keys/kib_key.txt
              engine_iv: ../keys/iv.bin
              engine_counter: ../keys/ctr.txt
              protected_region:
                - start_address: 0x60001000
                  length: 0x1000
                  protected_level: 0
          - bee_cfg:
              user_key: "{USER_KEY}"
              engine_key: "0xffeeddccbbaa99887766554433221100"
              engine_iv: "0x0f0e0d0c0b0a09080706050403020100"
              engine_counter: "0x112233445566778899aabbcc"
              protected_region:
                - start_address: 0x60003000
                  length: 0x400
                  protected_level: 1
        """,
    )
    return "cfg/bee.yaml"


def _config_binary(root: Path, family: str) -> str:
    """bee_binary_cfg given for engine0 only, used for engine1 (nxpimage's fallback)."""
    shutil.copy(GOLDEN / "bee_ehdr1.bin", root / "region.bin")
    _data(root / "fw.bin", 0x1800, 4)
    _write(
        root / "bee.yaml",
        f"""\
        family: {family}
        output_folder: .
        output_name: sub/encrypted_fw
        data_blobs:
          - data: fw.bin
            address: 0x60001800
        engine_selection: engine1
        bee_engine:
          - bee_binary_cfg:
              header_path: region.bin
              user_key: "{USER_KEY}"
        """,
    )
    return "bee.yaml"


CASES = [
    ("rt1015", _config_hex),
    ("rt102x", _config_files),
    ("rt104x", _config_binary),
    ("rt105x", _config_files),
    ("rt106x", _config_hex),
    ("mimxrt1043", _config_binary),
    ("mimxrt1060", _config_files),
]


@pytest.mark.parametrize(("family", "make"), CASES, ids=[f"{f}-{m.__name__[8:]}" for f, m in CASES])
def test_same_files_as_nxpimage(tmp_path: Path, family: str, make: object) -> None:
    src = tmp_path / "src"
    src.mkdir()
    config = make(src, family)  # type: ignore[operator]
    ours, theirs = run_both("bee", src, config, tmp_path)
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert ours[name] == theirs[name], name


def test_export_json_lists_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _config_hex(tmp_path, "rt106x")
    assert main(["xip", "bee", "export", "-c", str(tmp_path / "bee.yaml"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = sorted(Path(f["path"]).name for f in doc["files"])
    assert names == ["bee_ehdr0.bin", "encrypted.bin"]
    assert (tmp_path / "out" / "encrypted.bin").stat().st_size == 0x2000


def test_generated_engine_keys_are_written_like_nxpimage(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _config_hex(src, "mimxrt1060")
    text = (src / "bee.yaml").read_text()
    dropped = ("engine_key", "engine_counter")
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith(dropped))
    (src / "bee.yaml").write_text(text + "\n")
    ours, theirs = run_both("bee", src, "bee.yaml", tmp_path)
    assert sorted(ours) == sorted(theirs)
    assert "out/bee_engine0_kib_key.bin" in ours and "out/bee_engine0_counter.bin" in ours
    assert len(ours["out/bee_engine0_counter.bin"]) == 12
    # The written keys really are the ones used: the header decodes with them.
    kib_key = ours["out/bee_engine0_kib_key.bin"]
    assert (
        decode_block(ours["out/bee_ehdr0.bin"], bytes.fromhex(USER_KEY), layout="rom").kib.key
        == kib_key
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("mimxrt1060", "mimxrt1170"), "family 'mimxrt1170' has no BEE"),
        (("in/app.bin", "in/missing.bin"), "neither next to the configuration"),
        ((USER_KEY, "zz"), "must be hex or the name of an existing file"),
        (("0x800", "0x4000"), "overlaps"),
    ],
)
def test_bad_configurations_give_one_line_errors(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    _config_hex(tmp_path, "mimxrt1060")
    cfg = tmp_path / "bee.yaml"
    cfg.write_text(cfg.read_text().replace(*edit))
    if edit[1] == "0x4000":
        cfg.write_text(cfg.read_text().replace('"0x60041400"', '"0x60040400"'))
    with pytest.raises(InputError, match=message):
        beemod.export_nxpimage(NxpimageConfig.load_file(cfg))


def test_mcuboot_block_layout_and_self_check() -> None:
    kib = Kib(bytes(range(16)), bytes(range(16, 32)))
    prdb = mcuboot_prdb(0x6004_0000, 0x6023_F000, bytes(range(0xA0, 0xAC)))
    block = mcuboot_config_block(SW_KEY_LE_WORDS, kib, prdb)
    assert len(block) == 288
    plain = prdb.dumps()
    assert plain[0x0C:0x10] == (1).to_bytes(4, "little")  # one FAC ...
    assert plain[0x50:0x90] == bytes(0x40)  # ... not in slots 0 and 1 ...
    assert plain[0x90:0x98] == bytes.fromhex("0000046000f02360")  # ... but in slot 2
    verdict = BeeEngine().inspect(block)
    assert verdict.valid and ("key", "SW-key, little-endian words") in verdict.fields
    # The other byte-order candidate is tried too: the self-check settles the order.
    other = mcuboot_config_block(SW_KEY_REVERSED, kib, prdb)
    assert ("key", "SW-key, bytes reversed") in BeeEngine().inspect(other).fields


def test_build_pins_everything_through_the_rng_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(beemod._rng, "random_bytes", lambda n: bytes(range(n)))
    image = sample_image(0x1000)
    result = BeeEngine().build(XipRequest(RT1060, image=image, trailer_version="sha256"))
    files = {f.name: f for f in result.files}
    assert files["bee_cfg.bin"].address == 0x6044_0000
    sector = files["metadata_slot0.bin"].data
    assert sector[:288] == files["bee_cfg.bin"].data and len(sector) == 0x1000
    decoded = decode_block(sector, SW_KEY_LE_WORDS)
    assert decoded.prdb.region() == (0x6004_0000, 0x6004_0000 + 0x1FF000)
    enc = files["slot0_encrypted.bin"].data
    assert beemod.ctr_keystream_xor(SW_KEY_LE_WORDS, decoded.prdb.nonce, 0x6004_0000, enc) == image
    assert any("UNVERIFIED" in n for n in result.notes)
    report = BeeEngine().inspect(sector)
    assert report.valid and ("trailer", "sha256-slot, sha256 (complete)") in report.fields


def test_otpmk_says_the_key_never_leaves_the_chip() -> None:
    with pytest.raises(EngineUnsupported, match="never leaves the chip"):
        BeeEngine(key_mode="otpmk").build(XipRequest(RT1060))


def test_sw_gp2_uses_the_user_key() -> None:
    key = bytes.fromhex(USER_KEY)
    result = BeeEngine(key_mode="sw-gp2", user_key=key).build(XipRequest(RT1060))
    assert decode_block(result.files[0].data, key).prdb.fac_count == 1
    assert not result.notes


def test_conformance() -> None:
    check_engine_conformance(BeeEngine)


def test_wrong_key_is_reported_not_crashed() -> None:
    verdict = BeeEngine().inspect(bytes(288), key=bytes(16))
    assert not verdict.valid and "TAG_/EHDR" in verdict.problems[0]


@settings(deadline=None)  # shared CI cores: time is not what is tested
@given(data=st.binary(max_size=700))
def test_arbitrary_dumps_parse_or_raise_our_error(data: bytes) -> None:
    for layout in ("mcuboot", "rom"):
        try:
            decode_block(data, SW_KEY_LE_WORDS, layout=layout)
        except DumpFormatError:
            pass
    try:
        BeeEngine().inspect(data)
    except DumpFormatError:
        pass


def test_trailer_versions_in_build() -> None:
    for version in TrailerVersion:
        result = BeeEngine().build(XipRequest(RT1060, trailer_version=version.value))
        assert BeeEngine().inspect(result.files[1].data).valid


def test_binary_header_checks_only_what_nxpimage_checks(tmp_path: Path) -> None:
    """Bytes after the counted FACs are ignored by nxpimage; so are they here."""
    key = bytes.fromhex(USER_KEY)
    header = (GOLDEN / "bee_ehdr0.bin").read_bytes()
    decoded = decode_block(header, key, layout="rom")
    plain = bytearray(decoded.plain)
    plain[0xB0:0x100] = b"\x5a" * 0x50  # FAC slot 3 and the tail: garbage
    eprdb = beemod._cbc(decoded.kib.key, decoded.kib.iv, bytes(plain))
    src = tmp_path / "src"
    src.mkdir()
    _config_binary(src, "rt106x")
    (src / "region.bin").write_bytes(header[:0x80] + eprdb + header[0x180:])
    ours, theirs = run_both("bee", src, "bee.yaml", tmp_path)
    assert sorted(ours) == sorted(theirs) and all(ours[n] == theirs[n] for n in theirs)
