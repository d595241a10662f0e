"""IPED (RW61x): region arithmetic, ROM-API argument words, SB3.1 provisioning, IPCB dumps.

On RW61x the IPED block in the metadata sector (the IPCB, 256 bytes) is written by the
ROM itself (``iap_mem_config`` with a *write* argument) and carries an IV wrapped with a
key the ROM keeps on chip (ELS key slot 3).  The host therefore never makes the IPCB,
nor encrypted data: it makes the plain argument words that tell the ROM what to do, the
SB3.1 command list that provisions the first image (the ROM encrypts while loading), and
the magic page written last.  It can check an IPCB dumped from a device, except its IV.

Flash cost: every 32 bytes of ciphertext carry an 8-byte tag, so a logical region of
``n`` bytes takes ``n * 5 / 4`` bytes of flash; regions are whole 5-page units.
"""

from __future__ import annotations

import argparse
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

from mcuseal.errors import DumpFormatError, EngineUnsupported, UsageError
from mcuseal.plugins.manager import EngineRegistry
from mcuseal.plugins.metadata import (
    MAGIC32,
    TrailerVersion,
    inspect_sector,
    magic_page,
    trailer_version,
)
from mcuseal.plugins.spec import hookimpl
from mcuseal.plugins.types import (
    Artifact,
    EncryptionEngine,
    EngineCaps,
    Inspection,
    OutputFile,
    SlotLayout,
    XipMode,
    XipRequest,
    XipResult,
)

IPCB_TAG: Final = 0x42435049  # b"IPCB" little-endian
CONFIG_ID: Final = 0x95959595  # kNBOOT_MemCryptIped
ROUNDS_WORDS: Final = {12: 0x3C5AC33C, 22: 0x5AA55AA5}
#: In the ROM-API configure argument, 0 selects 12 PRINCE rounds (SB3 template comment).
ROM_ARG_ROUNDS: Final = {12: 0, 22: 1}

IPCB_HEAD = struct.Struct("<4I")  # tag, configId, rounds, regionOffset
assert IPCB_HEAD.size == 16
#: start, end (logical), flags (bit0 enabled, bit1 locked), pad[3], iv[16], ct[16], tag[16]
IPCB_REGION = struct.Struct("<IIB3s16s16s16s")
assert IPCB_REGION.size == 60
IPCB_REGIONS: Final = 4
IPCB_SIZE: Final = IPCB_HEAD.size + IPCB_REGIONS * IPCB_REGION.size
assert IPCB_SIZE == 256

OPT_CONFIGURE: Final = 0xA0
OPT_WRITE_IPCB: Final = 0xAA
MEMORY_ID_FLEXSPI_NOR: Final = 9
MEMORY_ID_RAM: Final = 0
#: IPED context 0 is MCUboot's own (set up by ROM); slot N uses context 1 + N.
FIRST_SLOT_CONTEXT: Final = 1

DEVICE_ONLY_REASON: Final = (
    "the IPCB's IV is wrapped by the ROM with an ELS key that never leaves the chip, so "
    "only the ROM writes the IPCB and encrypts data (through its write API or SB3 loads)"
)
UNVERIFIED_NOTE: Final = (
    "UNVERIFIED: the bit widths of the ROM-API option word and the regionOffset/entry the "
    "ROM fills for offset 1, count 1 are inferred from NXP's SB3 template, not from a spec"
)


def region_sizes(slot_size: int, sector_size: int, page_size: int) -> tuple[int, int]:
    """``(logical, physical)`` IPED region size of a slot, its trailer sector excluded.

    >>> [hex(n) for n in region_sizes(0x200000, 0x1000, 0x100)]
    ['0x198c00', '0x1fef00']
    """
    unit = 5 * page_size
    physical = (slot_size - sector_size) // unit * unit
    if physical <= 0:
        raise UsageError(f"slot of {slot_size:#x} bytes leaves no room for an IPED region")
    return physical_to_logical(physical), physical


def physical_to_logical(size: int) -> int:
    return size * 4 // 5


def logical_to_physical(size: int) -> int:
    return size * 5 // 4


def option_word(op: int, context_offset: int, count: int) -> int:
    if not 0 <= context_offset <= 3 or not 1 <= count <= 4 - context_offset:
        raise UsageError(
            f"IPED contexts {context_offset}..{context_offset + count - 1} are outside 0..3"
        )
    return op << 24 | context_offset << 8 | count


@dataclass(frozen=True)
class IpedRegion:
    """One context's logical range, ``[start, end)``."""

    start: int
    end: int
    locked: bool = False


def configure_arg(
    regions: Sequence[IpedRegion], *, context_offset: int, rounds: int = 12
) -> list[int]:
    """The 14 words of ``flexspi_iped_config_arg_t`` for ``iap_mem_config``."""
    if not 1 <= len(regions) <= 4:
        raise UsageError("IPED configures 1-4 regions at once")
    words = [option_word(OPT_CONFIGURE, context_offset, len(regions)), ROM_ARG_ROUNDS[rounds]]
    for i in range(4):
        r = regions[i] if i < len(regions) else None
        words += [r.start, r.end, int(r.locked)] if r else [0, 0, 0]
    return words


def write_arg(address: int, *, context_offset: int, count: int = 1) -> list[int]:
    """The 2 words of ``flexspi_iped_write_arg_t``: make the ROM write the IPCB at *address*."""
    return [option_word(OPT_WRITE_IPCB, context_offset, count), address]


def _hex(value: int) -> str:
    return f"{value:#010x}"


def words_bytes(words: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(words)}I", *words)


@dataclass(frozen=True)
class Ipcb:
    """A parsed IPCB (IV fields kept opaque: only the chip can unwrap them)."""

    config_id: int
    rounds_word: int
    region_offset: int
    regions: tuple[tuple[int, int, int], ...]  # (start, end, flags) per entry

    @classmethod
    def loads(cls, data: bytes) -> Ipcb:
        """:raises DumpFormatError: too short or no ``IPCB`` tag."""
        if len(data) < IPCB_SIZE:
            raise DumpFormatError(f"an IPCB is {IPCB_SIZE} bytes, got {len(data)}")
        tag, config_id, rounds, offset = IPCB_HEAD.unpack_from(data)
        if tag != IPCB_TAG:
            raise DumpFormatError(
                f"no IPCB tag at offset 0 (found {data[:4].hex()}): not an IPED block"
            )
        entries = []
        for i in range(IPCB_REGIONS):
            start, end, flags, *_ = IPCB_REGION.unpack_from(data, IPCB_HEAD.size + i * 60)
            entries.append((start, end, flags))
        return cls(config_id, rounds, offset, tuple(entries))

    def problems(self) -> list[str]:
        out = []
        if self.config_id != CONFIG_ID:
            out.append(f"configId {self.config_id:#010x}, expected {CONFIG_ID:#010x}")
        if self.rounds_word not in ROUNDS_WORDS.values():
            out.append(f"PRINCE rounds word {self.rounds_word:#010x} is neither 12 nor 22 rounds")
        if self.region_offset > 3:
            out.append(f"regionOffset {self.region_offset} is not an IPED context 0-3")
        enabled = [(i, r) for i, r in enumerate(self.regions) if r[2] & 1]
        if not enabled:
            out.append("no region entry is enabled")
        for i, (start, end, _) in enabled:
            if start >= end:
                out.append(f"region entry {i} is empty or inverted ({start:#x}..{end:#x})")
        return out


def _rounds_label(word: int) -> str:
    names = {v: f"{k} rounds" for k, v in ROUNDS_WORDS.items()}
    return names.get(word, f"{word:#010x} (unknown)")


class IpedEngine(EncryptionEngine):
    """IPED on RW61x: everything around the ROM-written IPCB."""

    name = "iped"
    description = "RW61x Inline PRINCE Encryption/Decryption (IPCB written by the ROM)"
    families = ("rw610", "rw612")
    caps = EngineCaps(
        host=frozenset({Artifact.PROVISIONING, Artifact.METADATA_SECTOR}),
        device_only=frozenset({Artifact.CONFIG_BLOCK, Artifact.ENCRYPTED_DATA, Artifact.KEYS}),
        device_only_reason=DEVICE_ONLY_REASON,
        parses_dumps=True,
        config_block_size=IPCB_SIZE,
        modes=frozenset({XipMode.OVERWRITE_ONLY, XipMode.FLASH_REMAP}),
    )

    def __init__(
        self,
        *,
        rounds: int = 12,
        lock: bool = False,
        sb3_family: str = "rw612",
        signer: str = "type=file;file_path=root_prv_key.pem",
        cert_block: str = "cert_block.yaml",
        pck: str = "pck.txt",
        scratch_addr: int = 0x2000_1000,
        slot_trailer: bytes | None = None,
    ) -> None:
        if rounds not in ROUNDS_WORDS:
            raise UsageError(f"IPED runs 12 or 22 PRINCE rounds, not {rounds}")
        self.rounds = rounds
        self.lock = lock
        self.sb3_family = sb3_family
        self.signer = signer
        self.cert_block = cert_block
        self.pck = pck
        self.scratch_addr = scratch_addr
        self.slot_trailer = slot_trailer

    @classmethod
    def add_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--iped-rounds", type=int, choices=[12, 22], default=12)
        group.add_argument("--iped-lock", action="store_true", help="lock the slot's context")
        group.add_argument("--sb3-family", default="rw612", help="SPSDK family (rw610, rw612)")
        group.add_argument(
            "--sb3-signer",
            default="type=file;file_path=root_prv_key.pem",
            help="SPSDK signer for the SB3.1 container",
        )
        group.add_argument("--sb3-cert-block", default="cert_block.yaml")
        group.add_argument("--sb3-pck", default="pck.txt", help="SB3 part-common key file")
        group.add_argument(
            "--sb3-scratch-addr",
            type=lambda s: int(s, 0),
            default=0x2000_1000,
            help="RAM address where the SB3 file stages the ROM-API argument words",
        )
        group.add_argument(
            "--iped-slot-trailer",
            metavar="FILE",
            help="plain page to load at the end of slot 0 (MCUboot's slot trailer page)",
        )

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> IpedEngine:
        trailer = None
        path = getattr(ns, "iped_slot_trailer", None)
        if path:
            try:
                with open(path, "rb") as f:
                    trailer = f.read()
            except OSError as err:
                raise UsageError(
                    f"cannot read --iped-slot-trailer {path}: {err.strerror}"
                ) from None
        return cls(
            rounds=getattr(ns, "iped_rounds", 12),
            lock=getattr(ns, "iped_lock", False),
            sb3_family=getattr(ns, "sb3_family", "rw612"),
            signer=getattr(ns, "sb3_signer", "type=file;file_path=root_prv_key.pem"),
            cert_block=getattr(ns, "sb3_cert_block", "cert_block.yaml"),
            pck=getattr(ns, "sb3_pck", "pck.txt"),
            scratch_addr=getattr(ns, "sb3_scratch_addr", 0x2000_1000),
            slot_trailer=trailer,
        )

    def slot_region(self, layout: SlotLayout, slot: int) -> IpedRegion:
        logical, _ = region_sizes(layout.slot_size, layout.sector_size, layout.page_size)
        start = layout.slot_addr(slot)
        return IpedRegion(start, start + logical, self.lock)

    def build(self, request: XipRequest) -> XipResult:
        layout = request.layout
        if trailer_version(request.trailer_version) is not TrailerVersion.MAGIC:
            raise EngineUnsupported(
                "the older hashed trailers cover the IPCB, which only the ROM writes, so the "
                "host cannot make them; IPED provisioning uses the 26.06 magic trailer"
            )
        slots = [0, 1] if request.mode is XipMode.FLASH_REMAP else [0]
        for slot in slots:
            if layout.meta_addr(slot) is None:
                raise UsageError(f"the layout has no metadata sector address for slot {slot}")
        logical, physical = region_sizes(layout.slot_size, layout.sector_size, layout.page_size)
        region = self.slot_region(layout, 0)
        meta0 = layout.meta0_addr
        assert meta0 is not None
        config = configure_arg([region], context_offset=FIRST_SLOT_CONTEXT, rounds=self.rounds)
        write = write_arg(meta0, context_offset=FIRST_SLOT_CONTEXT)
        page = magic_page(layout.page_size)
        page_addr = meta0 + layout.sector_size - layout.page_size
        files = [
            OutputFile("iped_config_arg.bin", words_bytes(config), "ROM-API IPED configure words"),
            OutputFile("iped_write_arg.bin", words_bytes(write), "ROM-API IPCB write words"),
            OutputFile("magic_page.bin", page, "metadata magic page, written last", page_addr),
        ]
        notes = [DEVICE_ONLY_REASON, UNVERIFIED_NOTE]
        if (region.end - region.start) % (4 * layout.page_size):
            notes.append("region end is not 4-page aligned (SDK 25.09 required that)")
        if request.image is not None:
            if len(request.image) > logical:
                raise UsageError(
                    f"image of {len(request.image):#x} bytes exceeds the IPED region "
                    f"({logical:#x} logical bytes)"
                )
            files.append(OutputFile("slot0_image.bin", request.image, "plain slot 0 image"))
            if self.slot_trailer is not None:
                files.append(
                    OutputFile(
                        "slot0_trailer_page.bin",
                        self.slot_trailer,
                        "plain slot trailer page",
                        layout.slot0_addr + layout.slot_size - len(self.slot_trailer),
                    )
                )
            files.append(
                OutputFile(
                    "iped_provisioning.yaml",
                    self.provisioning_yaml(request, config, write).encode(),
                    "SB3.1 configuration for 'nxpimage sb31 export -c'",
                )
            )
        else:
            notes.append("give --image to get the SB3.1 provisioning list for the first image")
        facts = [
            ("IPED context", f"{FIRST_SLOT_CONTEXT} (slot 0); context 0 is MCUboot's"),
            ("region (logical)", f"{region.start:#010x}..{region.end:#010x} ({logical:#x} bytes)"),
            ("region (physical)", f"{region.start:#010x}..{region.start + physical:#010x}"),
            ("configure arg", " ".join(f"{w:#010x}" for w in config)),
            ("write arg", " ".join(f"{w:#010x}" for w in write)),
        ]
        if request.mode is XipMode.FLASH_REMAP:
            meta1 = layout.meta1_addr
            r1 = self.slot_region(layout, 1)
            facts.append(("slot 1 region", f"{r1.start:#010x}..{r1.end:#010x}, IPED context 2"))
            facts.append(("metadata sectors", f"{meta0:#010x} (slot 0), {meta1:#010x} (slot 1)"))
        return XipResult(tuple(files), tuple(facts), tuple(notes))

    def provisioning_yaml(
        self, request: XipRequest, config: Sequence[int], write: Sequence[int]
    ) -> str:
        """The SB3.1 command list for the first image (``nxpimage sb31 export`` input)."""
        layout = request.layout
        meta0 = layout.meta0_addr
        assert meta0 is not None and request.image is not None
        nor = MEMORY_ID_FLEXSPI_NOR

        def values(words: Sequence[int]) -> str:
            return ",".join(f"{w:#010x}" for w in words)

        def load(addr: int, name: str) -> dict[str, Any]:
            return {"load": {"address": _hex(addr), "memoryId": nor, "file": name}}

        commands: list[dict[str, Any]] = []
        metas = [meta0]
        if request.mode is XipMode.FLASH_REMAP and layout.meta1_addr is not None:
            metas.append(layout.meta1_addr)
        for addr in metas:
            commands.append(
                {
                    "erase": {
                        "address": _hex(addr),
                        "size": _hex(layout.sector_size),
                        "memoryId": nor,
                    }
                }
            )
        # The ROM programs 4 pages at a time and stores 5/4 of that; erase whole sectors.
        chunk = 4 * layout.page_size
        physical = logical_to_physical(-(-len(request.image) // chunk) * chunk)
        erase_size = -(-physical // layout.sector_size) * layout.sector_size
        commands += [
            {"load": {"address": _hex(self.scratch_addr), "memoryId": 0, "values": values(config)}},
            {"configureMemory": {"configAddress": _hex(self.scratch_addr), "memoryId": nor}},
            {
                "erase": {
                    "address": _hex(layout.slot0_addr),
                    "size": _hex(erase_size),
                    "memoryId": nor,
                }
            },
            {
                "load": {
                    "address": _hex(layout.slot0_addr),
                    "memoryId": nor,
                    "file": "slot0_image.bin",
                }
            },
        ]
        if self.slot_trailer is not None:
            trailer_addr = layout.slot0_addr + layout.slot_size - len(self.slot_trailer)
            commands.append(
                {
                    "load": {
                        "address": _hex(trailer_addr),
                        "memoryId": nor,
                        "file": "slot0_trailer_page.bin",
                    }
                }
            )
        commands += [
            {"load": {"address": _hex(self.scratch_addr), "memoryId": 0, "values": values(write)}},
            {"configureMemory": {"configAddress": _hex(self.scratch_addr), "memoryId": nor}},
            load(meta0 + layout.sector_size - layout.page_size, "magic_page.bin"),
        ]
        doc = {
            "family": self.sb3_family,
            "containerOutputFile": "iped_initial_image.sb3",
            "firmwareVersion": 0,
            "signer": self.signer,
            "certBlock": self.cert_block,
            "containerKeyBlobEncryptionKey": self.pck,
            "isNxpContainer": False,
            "kdkAccessRights": 0,
            "containerConfigurationWord": 0,
            "description": f"IPED {request.mode.value} first image",
            "commands": commands,
        }
        header = (
            "# SB3.1 provisioning of an IPED-encrypted first image, made by mcuseal.\n"
            "# Order matters: erase metadata, configure IPED (ROM makes the IV), load the\n"
            "# image (ROM encrypts), make the ROM write the IPCB, write the magic page last.\n"
            "# Build it with: nxpimage sb31 export -c iped_provisioning.yaml\n"
        )
        body: str = yaml.safe_dump(doc, sort_keys=False)
        return header + body

    def inspect(self, dump: bytes, *, key: bytes | None = None) -> Inspection:
        if len(dump) < IPCB_SIZE:
            raise DumpFormatError(f"{len(dump)} bytes is too short for an IPCB ({IPCB_SIZE})")
        if all(b == 0xFF for b in dump[:IPCB_SIZE]):
            return Inspection("IPCB", False, problems=("the IPCB area is erased",))
        ipcb = Ipcb.loads(dump)
        problems = ipcb.problems()
        fields = [
            ("configId", f"{ipcb.config_id:#010x}"),
            ("PRINCE", _rounds_label(ipcb.rounds_word)),
            ("regionOffset", str(ipcb.region_offset)),
        ]
        for i, (start, end, flags) in enumerate(ipcb.regions):
            if flags & 1:
                lock = ", locked" if flags & 2 else ""
                fields.append((f"entry {i}", f"{start:#010x}..{end:#010x} enabled{lock}"))
        fields.append(("IV", "wrapped by the ROM (cannot be checked off-chip)"))
        if len(dump) >= 2 * IPCB_SIZE:
            report = inspect_sector(dump, config_size=IPCB_SIZE)
            versions = ", ".join(v.value for v in report.versions) or "none"
            state = "complete" if report.complete else "incomplete"
            fields.append(("trailer", f"{versions} ({state})"))
            problems += report.problems
        return Inspection("IPCB", not problems, tuple(fields), tuple(problems))


#: Re-exported for callers building a magic page by hand.
MAGIC: Final = MAGIC32


@hookimpl
def mcuseal_register_engines(registry: EngineRegistry) -> None:
    registry.add(IpedEngine)
