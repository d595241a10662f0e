"""IPED (RW61x): region arithmetic, argument words, SB3.1 list accepted by nxpimage, IPCB dumps."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuseal.cli import main
from mcuseal.errors import DumpFormatError, UsageError
from mcuseal.plugins import SlotLayout, XipMode, XipRequest
from mcuseal.plugins.boards import boards
from mcuseal.plugins.iped import (
    IPCB_HEAD,
    IPCB_REGION,
    IpedEngine,
    IpedRegion,
    configure_arg,
    region_sizes,
    write_arg,
)
from mcuseal.plugins.metadata import MAGIC32, TrailerVersion, build_sector
from mcuseal.testing import check_engine_conformance, sample_image
from tests.plugins.spsdk_oracle import NXPIMAGE

RW612 = SlotLayout(
    0x0800_0000, 0x0804_0000, 0x0824_0000, 0x20_0000, 0x1000, 0x100, 0x0844_0000, 0x0844_1000
)


def test_region_arithmetic_matches_the_sdk_example() -> None:
    # rw61x_IPED_initial_image.yaml: 0x08040000..0x081D8C00 logical, 0x0823EF00 physical.
    logical, physical = region_sizes(0x200000, 0x1000, 0x100)
    assert (logical, physical) == (0x198C00, 0x1FEF00)
    assert logical * 5 // 4 == physical


def test_argument_words_match_the_sdk_template() -> None:
    words = configure_arg([IpedRegion(0x08040000, 0x081D8C00)], context_offset=1)
    assert words == [0xA0000101, 0, 0x08040000, 0x081D8C00, 0] + [0] * 9
    assert write_arg(0x08440000, context_offset=1) == [0xAA000101, 0x08440000]
    # the zephyr#102643 blhost script: context 0, one region
    assert configure_arg([IpedRegion(0x08000000, 0x08010000)], context_offset=0)[0] == 0xA0000001
    with pytest.raises(UsageError, match=r"outside 0\.\.3"):
        write_arg(0, context_offset=3, count=2)


def test_build_flash_remap_lists_both_metadata_sectors() -> None:
    result = IpedEngine().build(XipRequest(RW612, XipMode.FLASH_REMAP, image=sample_image()))
    facts = dict(result.facts)
    assert facts["region (logical)"].startswith("0x08040000..0x081d8c00")
    assert facts["configure arg"].startswith("0xa0000101 0x00000000 0x08040000 0x081d8c00")
    assert "0x08441000 (slot 1)" in facts["metadata sectors"]
    files = {f.name: f for f in result.files}
    assert files["magic_page.bin"].address == 0x08440F00
    assert files["magic_page.bin"].data[-32:] == MAGIC32
    assert struct.unpack("<2I", files["iped_write_arg.bin"].data) == (0xAA000101, 0x08440000)
    text = files["iped_provisioning.yaml"].data.decode()
    assert text.count("erase:") == 3  # both metadata sectors and the slot
    # 0x2000 plain bytes take 0x2800 in flash: erase whole sectors, 0x3000.
    assert "address: '0x08040000'\n    size: '0x00003000'" in text
    assert any("never leaves the chip" in n for n in result.notes)


def _throwaway_keys(folder: Path) -> None:
    nxpcrypto = NXPIMAGE.with_name("nxpcrypto")
    subprocess.run(
        [str(nxpcrypto), "key", "generate", "-k", "secp256r1", "-o", str(folder / "root_k.pem")],
        check=True,
        capture_output=True,
    )
    from spsdk.crypto.rng import random_bytes

    (folder / "pck.txt").write_text(random_bytes(32).hex())
    (folder / "cert_block.yaml").write_text(
        "family: rw612\nuseIsk: false\nrootCertificate0File: root_k.pub\nmainRootCertId: 0\n"
        "containerOutputFile: cert_block.bin\n"
    )


def test_provisioning_yaml_is_accepted_by_nxpimage_sb31(tmp_path: Path) -> None:
    if not NXPIMAGE.exists():
        pytest.skip("SPSDK's nxpimage is not installed")
    image = tmp_path / "app.signed.bin"
    image.write_bytes(sample_image(0x3000))
    trailer = tmp_path / "trailer.bin"
    trailer.write_bytes(b"\xff" * 0xF0 + bytes(16))
    out = tmp_path / "out"
    out.mkdir()
    _throwaway_keys(out)
    args = ["xip", "iped", "build", "--flash-base", "0x08000000", "--slot0", "0x08040000"]
    args += ["--slot1", "0x08240000", "--slot-size", "0x200000", "--sector-size", "0x1000"]
    args += ["--page-size", "0x100", "--meta0", "0x08440000", "--meta1", "0x08441000"]
    args += ["--mode", "flash-remap", "--image", str(image), "-o", str(out)]
    args += ["--sb3-signer", "type=file;file_path=root_k.pem", "--iped-slot-trailer", str(trailer)]
    assert main(args) == 0
    done = subprocess.run(
        [str(NXPIMAGE), "sb31", "export", "-c", "iped_provisioning.yaml"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sb3 = (out / "iped_initial_image.sb3").read_bytes()
    assert sb3[:4] == b"sbv3"


def fake_ipcb(offset: int = 1, flags: int = 1, rounds: int = 0x3C5AC33C) -> bytes:
    head = IPCB_HEAD.pack(0x42435049, 0x95959595, rounds, offset)
    entry = IPCB_REGION.pack(
        0x08040000, 0x081D8C00, flags, bytes(3), bytes(16), bytes(16), bytes(16)
    )
    return head + entry + bytes(3 * 60)


def test_ipcb_dump_is_checked_with_its_trailer() -> None:
    sector = build_sector(fake_ipcb(), sector_size=0x1000, version=TrailerVersion.MAGIC)
    verdict = IpedEngine().inspect(sector)
    assert verdict.valid, verdict.problems
    fields = dict(verdict.fields)
    assert fields["entry 0"] == "0x08040000..0x081d8c00 enabled"
    assert fields["PRINCE"] == "12 rounds" and fields["trailer"] == "magic (complete)"
    bad = IpedEngine().inspect(fake_ipcb(offset=7, flags=0, rounds=1))
    assert not bad.valid and len(bad.problems) == 3
    assert not IpedEngine().inspect(b"\xff" * 256).valid
    with pytest.raises(DumpFormatError, match="not an IPED block"):
        IpedEngine().inspect(bytes(256))


def test_conformance() -> None:
    check_engine_conformance(IpedEngine, dumps=[fake_ipcb()])


@settings(deadline=None)  # shared CI cores: time is not what is tested
@given(data=st.binary(max_size=600))
def test_arbitrary_dumps_parse_or_raise_our_error(data: bytes) -> None:
    try:
        IpedEngine().inspect(data)
    except DumpFormatError:
        pass


def test_hashed_trailers_are_refused_with_the_reason() -> None:
    from mcuseal.errors import EngineUnsupported

    with pytest.raises(EngineUnsupported, match="only the ROM writes"):
        IpedEngine().build(XipRequest(RW612, trailer_version="sha256"))
    with pytest.raises(UsageError, match="unknown metadata trailer version 'v9'"):
        IpedEngine().build(XipRequest(RW612, trailer_version="v9"))


def _random_layouts(seed: int, count: int) -> list[list[str]]:
    """Seeded slot layouts on RW61x FlexSPI: sector 4 KiB, page 256 or 512, slots 64 KiB-4 MiB."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(count):
        sector = 0x1000
        slot_size = rng.randrange(0x10, 0x400) * sector
        slot0 = 0x0800_0000 + rng.randrange(0x10, 0x80) * sector
        slot1 = slot0 + slot_size
        meta0 = slot1 + slot_size
        args = ["--flash-base", "0x08000000", "--slot0", hex(slot0), "--slot1", hex(slot1)]
        args += ["--slot-size", hex(slot_size), "--sector-size", hex(sector)]
        args += ["--page-size", hex(rng.choice([0x100, 0x200])), "--meta0", hex(meta0)]
        args += ["--meta1", hex(meta0 + sector)]
        out.append(args)
    return out


IPED_BOARDS = [b for b in boards().values() if b.engine == "iped"]
SB3_CASES = [
    *[(["--board", b.name], m.value, b.name) for b in IPED_BOARDS for m in sorted(b.modes)],
    *[
        (a, m, f"random{i}-{m}")
        for i, a in enumerate(_random_layouts(5, 3))
        for m in ("overwrite-only", "flash-remap")
    ],
]


@pytest.mark.parametrize(
    ("layout", "mode"), [c[:2] for c in SB3_CASES], ids=[c[2] for c in SB3_CASES]
)
def test_sb31_export_accepts_every_preset_and_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: list[str], mode: str
) -> None:
    """nxpimage (in-process, as the command line runs it) exports the provisioning list."""
    click_testing = pytest.importorskip("click.testing")
    nxpimage = pytest.importorskip("spsdk.apps.nxpimage")
    out = tmp_path / "out"
    out.mkdir()
    _throwaway_keys(out)
    image = tmp_path / "app.signed.bin"
    image.write_bytes(sample_image(0x2000))
    args = ["xip", "iped", "build", *layout, "--mode", mode, "--image", str(image)]
    args += ["-o", str(out), "--sb3-signer", "type=file;file_path=root_k.pem"]
    if mode == "flash-remap":
        trailer = tmp_path / "trailer.bin"
        trailer.write_bytes(b"\xff" * 0xF0 + bytes(16))
        args += ["--iped-slot-trailer", str(trailer)]
    assert main(args) == 0
    monkeypatch.chdir(out)
    result = click_testing.CliRunner().invoke(
        nxpimage.main, ["sb31", "export", "-c", "iped_provisioning.yaml"]
    )
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    assert (out / "iped_initial_image.sb3").read_bytes()[:4] == b"sbv3"
    # The configured region is the SDK's (iped_ota_get_region_max_size, then the end
    # rounded up to 4 pages): whole 5-page chunks of the slot-to-slot distance minus a
    # sector, 4/5 of it logical.  Computed here independently of mcuseal.iped.
    opts = dict(zip(layout[::2], layout[1::2], strict=True))
    if "--board" in opts:
        lay = boards()[opts["--board"]].layout
        slot0, slot1, sector, page = lay.slot0_addr, lay.slot1_addr, lay.sector_size, lay.page_size
    else:
        slot0, slot1 = int(opts["--slot0"], 16), int(opts["--slot1"], 16)
        sector, page = int(opts["--sector-size"], 16), int(opts["--page-size"], 16)
    chunk = 5 * page
    logical = (slot1 - slot0 - sector) // chunk * chunk * 4 // 5
    logical += -logical % (4 * page)
    text = (out / "iped_provisioning.yaml").read_text()
    expected = f"0xa0000101,0x00000000,{slot0:#010x},{slot0 + logical:#010x}"
    assert expected in text, text
