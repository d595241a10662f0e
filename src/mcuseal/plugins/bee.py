"""BEE (Bus Encryption Engine, i.MX RT1015/102x/104x/105x/106x): blocks, data, dumps.

Two containers carry the same two encrypted parts, an EKIB (the key-info block: the
PRDB key and IV, AES-128-ECB under the device key) and an EPRDB (the protect-region
block, AES-128-CBC under the KIB):

* the ROM's region header, 512 bytes at flash offset 0x400 (region 0) or 0x800
  (region 1): EKIB at 0, EPRDB at 0x80, zero padding;
* MCUboot's ``bee_cfg_t``, 288 bytes at offset 0 of the encryption-metadata sector:
  EKIB at 0, EPRDB at 0x20.  MCUboot programs it into BEE region 1 with the access
  region in FAC slot 2 (not slot 0, whatever the 26.x document says: the code wins).

Data is AES-128-CTR with the 16-byte counter ``nonce12 || BE32(address >> 4)``.

Keys: the host can make the block only when it knows the device key, i.e. in SW-key
mode (an unfused part; MCUboot's constant ``SW_AES_KEY``) or SW-GP2 mode (a user key
burnt into the SW_GP2 fuses).  In OTPMK mode the key never leaves the chip: MCUboot
makes the block itself on the first upgrade.
"""

from __future__ import annotations

import argparse
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mcuseal.errors import DumpFormatError, EngineUnsupported, InputError, UsageError
from mcuseal.plugins import _rng
from mcuseal.plugins.manager import EngineRegistry
from mcuseal.plugins.metadata import build_sector, inspect_sector, trailer_version
from mcuseal.plugins.nxpimage import Field, NxpimageConfig, Schema, to_int
from mcuseal.plugins.spec import hookimpl
from mcuseal.plugins.types import (
    Artifact,
    EncryptionEngine,
    EngineCaps,
    Inspection,
    OutputFile,
    XipMode,
    XipRequest,
    XipResult,
)

TAGL: Final = 0x5F474154  # "TAG_"
TAGH: Final = 0x52444845  # "EHDR"
VERSION: Final = 0x56010000
MODE_ECB: Final = 0
MODE_CTR: Final = 1

#: PRDB header: tagl, tagh, version, fac_count, start, end, aes_mode, lock, counter, reserved.
PRDB_HEAD = struct.Struct("<8I16s32s")
assert PRDB_HEAD.size == 0x50
#: One FAC (access-control) region: start, end (exclusive), protected level, reserved.
FAC = struct.Struct("<3I20s")
assert FAC.size == 0x20
PRDB_SIZE: Final = 0x100
FAC_SLOTS: Final = 4
KIB_SIZE: Final = 32

ROM_HEADER_SIZE: Final = 0x200
ROM_EPRDB_OFFSET: Final = 0x80
CFG_SIZE: Final = KIB_SIZE + PRDB_SIZE  # 288, MCUboot's bee_cfg_t
assert CFG_SIZE == 288
MCUBOOT_FAC_SLOT: Final = 2
#: ``nxpimage`` encrypts in 1 KiB chunks and checks each chunk's start against the FACs.
CHUNK_SIZE: Final = 0x400

#: MCUboot's ``SW_AES_KEY`` words {0x15ab568c, 0x8d84f4c5, 0xacf5952a, 0x456c0b4a}, as
#: little-endian bytes.  Which byte order DCP and BEE apply is UNVERIFIED on hardware.
SW_KEY_LE_WORDS: Final = bytes.fromhex("8c56ab15c5f4848d2a95f5ac4a0b6c45")
#: The other candidate order: all 16 bytes reversed (MCUboot's ``aes_block_swap``).
SW_KEY_REVERSED: Final = SW_KEY_LE_WORDS[::-1]
SW_KEY_NOTE: Final = (
    "UNVERIFIED: the byte order of MCUboot's SW-key (SW_AES_KEY) as DCP/BEE use it has "
    "not been confirmed on hardware; dump the metadata sector of a device after its first "
    "upgrade and run 'mcuseal xip bee inspect DUMP' to settle it (the block self-verifies)"
)
OTPMK_REASON: Final = (
    "the OTPMK device key never leaves the chip, so only MCUboot on the device can make "
    "the BEE block and encrypt data in OTPMK mode"
)

#: Families ``nxpimage bee`` accepts (SPSDK 3.12 device database).
FAMILIES: Final = (
    "mimxrt1015",
    "mimxrt1020",
    "mimxrt1024",
    "mimxrt1040",
    "mimxrt1043",
    "mimxrt1046",
    "mimxrt1050",
    "mimxrt1060",
    "mimxrt1064",
)


def _ecb(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def _cbc(key: bytes, iv: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def _check_key(key: bytes, what: str) -> None:
    if len(key) != 16:
        raise UsageError(f"{what} must be 16 bytes (AES-128), got {len(key)}")


@dataclass(frozen=True)
class FacRegion:
    """An access-control region: ``[start, end)`` with a protection level 0-3."""

    start: int
    end: int
    level: int = 0

    def dumps(self) -> bytes:
        return FAC.pack(self.start, self.end, self.level, bytes(20))


@dataclass(frozen=True)
class Prdb:
    """The protect-region block.

    :param facs: the four FAC slots (``None`` = unused, all zero).
    :param nonce: the 12-byte CTR nonce (counter = nonce || BE32(addr >> 4)).
    :param fac_count: the count field; ``None`` = number of used slots.
    :param start: region start; ``None`` = lowest FAC start.
    :param end: region end; ``None`` = highest FAC end.
    """

    facs: tuple[FacRegion | None, ...]
    nonce: bytes
    fac_count: int | None = None
    start: int | None = None
    end: int | None = None
    aes_mode: int = MODE_CTR
    lock: int = 0
    counter_word0: int = 0

    def __post_init__(self) -> None:
        if len(self.facs) != FAC_SLOTS:
            raise UsageError(f"a PRDB has {FAC_SLOTS} FAC slots, got {len(self.facs)}")
        if len(self.nonce) != 12:
            raise UsageError(f"the BEE CTR nonce must be 12 bytes, got {len(self.nonce)}")

    @property
    def used(self) -> list[FacRegion]:
        return [f for f in self.facs if f is not None]

    def region(self) -> tuple[int, int]:
        used = self.used
        start = self.start if self.start is not None else min((f.start for f in used), default=0)
        end = self.end if self.end is not None else max((f.end for f in used), default=0)
        return start, end

    def counter_bytes(self) -> bytes:
        # Stored byte-reversed: 0x20..0x23 hold word 0, 0x24..0x2F the nonce reversed.
        return (self.nonce + self.counter_word0.to_bytes(4, "big"))[::-1]

    def dumps(self) -> bytes:
        start, end = self.region()
        count = self.fac_count if self.fac_count is not None else len(self.used)
        head = PRDB_HEAD.pack(
            TAGL,
            TAGH,
            VERSION,
            count,
            start,
            end,
            self.aes_mode,
            self.lock,
            self.counter_bytes(),
            bytes(32),
        )
        body = b"".join(f.dumps() if f else bytes(FAC.size) for f in self.facs)
        return (head + body).ljust(PRDB_SIZE, b"\0")

    @classmethod
    def loads(cls, data: bytes) -> tuple[Prdb, list[str]]:
        """Parse a decrypted PRDB; return it and the list of format problems.

        :raises DumpFormatError: wrong size, tags or version.
        """
        if len(data) < PRDB_SIZE:
            raise DumpFormatError(f"a PRDB is {PRDB_SIZE} bytes, got {len(data)}")
        tagl, tagh, version, count, start, end, mode, lock, counter, reserved = (
            PRDB_HEAD.unpack_from(data)
        )
        if (tagl, tagh) != (TAGL, TAGH):
            raise DumpFormatError(
                "decrypted PRDB has no TAG_/EHDR tags: wrong key, or not a BEE block"
            )
        if version != VERSION:
            raise DumpFormatError(f"PRDB version {version:#010x}, expected {VERSION:#010x}")
        problems: list[str] = []
        if reserved != bytes(32) or any(data[0xD0:PRDB_SIZE]):
            problems.append("reserved PRDB bytes are not zero")
        facs: list[FacRegion | None] = []
        for i in range(FAC_SLOTS):
            f_start, f_end, level, rsvd = FAC.unpack_from(data, PRDB_HEAD.size + i * FAC.size)
            if (f_start, f_end, level) == (0, 0, 0) and rsvd == bytes(20):
                facs.append(None)
                continue
            if rsvd != bytes(20):
                problems.append(f"FAC {i} reserved bytes are not zero")
            if level > 3:
                problems.append(f"FAC {i} protected level {level} is not 0-3")
            if f_start >= f_end:
                problems.append(f"FAC {i} is empty or inverted ({f_start:#x}..{f_end:#x})")
            facs.append(FacRegion(f_start, f_end, level))
        if mode not in (MODE_ECB, MODE_CTR):
            problems.append(f"AES mode {mode} is neither ECB (0) nor CTR (1)")
        reversed_counter = counter[::-1]
        prdb = cls(
            tuple(facs),
            reversed_counter[:12],
            fac_count=count,
            start=start,
            end=end,
            aes_mode=mode,
            lock=lock,
            counter_word0=int.from_bytes(reversed_counter[12:], "big"),
        )
        return prdb, problems


@dataclass(frozen=True)
class Kib:
    """The key-info block: the key and IV that encrypt the PRDB."""

    key: bytes
    iv: bytes

    def __post_init__(self) -> None:
        _check_key(self.key, "BEE KIB key")
        if len(self.iv) != 16:
            raise UsageError(f"BEE KIB IV must be 16 bytes, got {len(self.iv)}")

    @classmethod
    def generate(cls) -> Kib:
        return cls(_rng.random_bytes(16), _rng.random_bytes(16))


def ekib(device_key: bytes, kib: Kib) -> bytes:
    _check_key(device_key, "BEE device key")
    return _ecb(device_key, kib.key + kib.iv)


def eprdb(kib: Kib, prdb: Prdb) -> bytes:
    return _cbc(kib.key, kib.iv, prdb.dumps())


def rom_header(device_key: bytes, kib: Kib, prdb: Prdb) -> bytes:
    """The ROM's 512-byte BEE region header (flash offset 0x400 or 0x800)."""
    out = ekib(device_key, kib).ljust(ROM_EPRDB_OFFSET, b"\0") + eprdb(kib, prdb)
    return out.ljust(ROM_HEADER_SIZE, b"\0")


def mcuboot_config_block(device_key: bytes, kib: Kib, prdb: Prdb) -> bytes:
    """MCUboot's 288-byte ``bee_cfg_t``: EKIB then EPRDB, no padding."""
    return ekib(device_key, kib) + eprdb(kib, prdb)


def mcuboot_prdb(region_start: int, region_end: int, nonce: bytes) -> Prdb:
    """The PRDB MCUboot writes for a slot: one FAC, in slot 2, covering the region."""
    facs: list[FacRegion | None] = [None] * FAC_SLOTS
    facs[MCUBOOT_FAC_SLOT] = FacRegion(region_start, region_end, 0)
    return Prdb(tuple(facs), nonce, fac_count=1, start=region_start, end=region_end)


def slot_region(slot_addr: int, slot_size: int, sector_size: int) -> tuple[int, int]:
    """The encrypted region of a slot: the whole slot minus its trailer sector (SDK 26.06)."""
    size = (slot_size - sector_size) // sector_size * sector_size
    if size <= 0:
        raise UsageError(f"slot of {slot_size:#x} bytes leaves no room beside its trailer sector")
    return slot_addr, slot_addr + size


def ctr_keystream_xor(key: bytes, nonce: bytes, addr: int, data: bytes) -> bytes:
    """AES-128-CTR over *data* at absolute address *addr* (16-byte aligned)."""
    _check_key(key, "BEE data key")
    if addr % 16:
        raise UsageError(f"BEE data must start on a 16-byte boundary, not {addr:#x}")
    counter = nonce + (addr >> 4).to_bytes(4, "big")
    op = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    return op.update(data) + op.finalize()


@dataclass(frozen=True)
class DecodedBlock:
    """A decrypted BEE block (either container)."""

    layout: str
    kib: Kib
    prdb: Prdb
    problems: tuple[str, ...] = field(default=())
    plain: bytes = b""  # the decrypted PRDB


def decode_block(data: bytes, device_key: bytes, *, layout: str = "mcuboot") -> DecodedBlock:
    """Decrypt and parse a ``bee_cfg_t`` (``layout="mcuboot"``) or ROM header (``"rom"``).

    :raises DumpFormatError: too short, or the key does not decrypt it to a PRDB.
    """
    _check_key(device_key, "BEE device key")
    offset = KIB_SIZE if layout == "mcuboot" else ROM_EPRDB_OFFSET
    if len(data) < offset + PRDB_SIZE:
        raise DumpFormatError(
            f"{len(data)} bytes is too short for a BEE {layout} block ({offset + PRDB_SIZE} bytes)"
        )
    plain_kib = _ecb(device_key, bytes(data[:KIB_SIZE]), decrypt=True)
    kib = Kib(plain_kib[:16], plain_kib[16:])
    plain = _cbc(kib.key, kib.iv, bytes(data[offset : offset + PRDB_SIZE]), decrypt=True)
    prdb, problems = Prdb.loads(plain)
    if layout == "rom" and any(data[KIB_SIZE:ROM_EPRDB_OFFSET]):
        problems.append("ROM header padding 0x20..0x7F is not zero")
    return DecodedBlock(layout, kib, prdb, tuple(problems), plain)


def mcuboot_problems(prdb: Prdb) -> list[str]:
    """What MCUboot's BEE platform check would refuse in a decoded ``bee_cfg_t``."""
    problems = []
    if not 1 <= (prdb.fac_count or 0) <= 3:
        problems.append(f"FAC count {prdb.fac_count} is not 1-3 (MCUboot's limit)")
    if prdb.aes_mode != MODE_CTR:
        problems.append("AES mode is not CTR")
    return problems


class BeeEngine(EncryptionEngine):
    """BEE for i.MX RT10xx: MCUboot's metadata block, ROM headers, data, dumps."""

    name = "bee"
    description = "i.MX RT1015/102x/104x/105x/106x Bus Encryption Engine (AES-128-CTR)"
    families = FAMILIES
    caps = EngineCaps(
        host=frozenset(
            {
                Artifact.CONFIG_BLOCK,
                Artifact.ROM_HEADER,
                Artifact.ENCRYPTED_DATA,
                Artifact.METADATA_SECTOR,
                Artifact.KEYS,
            }
        ),
        parses_dumps=True,
        nxpimage_export=True,
        config_block_size=CFG_SIZE,
        modes=frozenset({XipMode.OVERWRITE_ONLY}),
    )
    KEY_MODES: ClassVar[tuple[str, ...]] = ("sw-key", "sw-gp2", "otpmk")

    def __init__(self, *, key_mode: str = "sw-key", user_key: bytes | None = None) -> None:
        if key_mode not in self.KEY_MODES:
            raise UsageError(f"BEE key mode {key_mode!r} is not one of {', '.join(self.KEY_MODES)}")
        if key_mode == "sw-gp2":
            if user_key is None:
                raise UsageError("BEE key mode sw-gp2 needs the SW_GP2 user key (--bee-user-key)")
            _check_key(user_key, "BEE SW_GP2 user key")
        elif user_key is not None:
            raise UsageError(f"--bee-user-key applies to key mode sw-gp2, not {key_mode}")
        self.key_mode = key_mode
        self.user_key = user_key

    @classmethod
    def add_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--bee-key-mode",
            choices=cls.KEY_MODES,
            default="sw-key",
            help="which device key the part uses (BEE_KEY1_SEL fuse): sw-key = unfused "
            "(MCUboot's constant key), sw-gp2 = user key in SW_GP2 fuses, otpmk = "
            "on-chip key (nothing can be made on the host)",
        )
        group.add_argument(
            "--bee-user-key",
            metavar="HEX",
            help="the 16-byte SW_GP2 user key, hex (sw-gp2 mode)",
        )

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> BeeEngine:
        raw = getattr(ns, "bee_user_key", None)
        key = None
        if raw is not None:
            try:
                key = bytes.fromhex(raw.removeprefix("0x"))
            except ValueError:
                raise UsageError(f"--bee-user-key {raw!r} is not hex") from None
        return cls(key_mode=getattr(ns, "bee_key_mode", "sw-key"), user_key=key)

    def device_key(self) -> bytes:
        if self.key_mode == "otpmk":
            raise EngineUnsupported(
                f"{OTPMK_REASON}; program the signed OTA image into slot 1 instead and let "
                "MCUboot install (and encrypt) it on first boot"
            )
        if self.key_mode == "sw-gp2":
            assert self.user_key is not None
            return self.user_key
        return SW_KEY_LE_WORDS

    def build(self, request: XipRequest) -> XipResult:
        if request.mode is not XipMode.OVERWRITE_ONLY:
            raise UsageError("BEE supports only the overwrite-only mode")
        layout = request.layout
        if layout.meta0_addr is None:
            raise UsageError("the layout has no metadata sector address for slot 0")
        key = self.device_key()
        start, end = slot_region(layout.slot0_addr, layout.slot_size, layout.sector_size)
        nonce = _rng.random_bytes(12)
        kib = Kib.generate()
        block = mcuboot_config_block(key, kib, mcuboot_prdb(start, end, nonce))
        version = trailer_version(request.trailer_version)
        sector = build_sector(
            block, sector_size=layout.sector_size, version=version, page_size=layout.page_size
        )
        files = [
            OutputFile(
                "bee_cfg.bin", block, "MCUboot bee_cfg_t (EKIB || EPRDB)", layout.meta0_addr
            ),
            OutputFile(
                "metadata_slot0.bin",
                sector,
                f"metadata sector, {version.value} trailer ({version.sdk})",
                layout.meta0_addr,
            ),
        ]
        if request.image is not None:
            if len(request.image) > end - start:
                raise UsageError(
                    f"image of {len(request.image):#x} bytes exceeds the encrypted region "
                    f"{start:#x}..{end:#x}"
                )
            files.append(
                OutputFile(
                    "slot0_encrypted.bin",
                    ctr_keystream_xor(key, nonce, start, request.image),
                    "slot 0 image, BEE-encrypted for XIP",
                    start,
                )
            )
        facts = (
            ("key mode", self.key_mode),
            ("BEE region", "1 (region 0 is the ROM's, for MCUboot)"),
            ("encrypted region", f"{start:#010x}..{end:#010x} (FAC slot 2, level 0)"),
            ("CTR nonce", nonce.hex()),
            ("metadata sector", f"{layout.meta0_addr:#010x}"),
        )
        notes = (SW_KEY_NOTE,) if self.key_mode == "sw-key" else ()
        return XipResult(tuple(files), facts, notes)

    def inspect(self, dump: bytes, *, key: bytes | None = None) -> Inspection:
        if len(dump) < CFG_SIZE:
            raise DumpFormatError(
                f"{len(dump)} bytes is too short for a BEE block ({CFG_SIZE} bytes)"
            )
        candidates: list[tuple[str, bytes]]
        if key is not None:
            _check_key(key, "BEE device key")
            candidates = [("given key", key)]
        elif self.key_mode == "sw-gp2" and self.user_key is not None:
            candidates = [("SW_GP2 user key", self.user_key)]
        else:
            candidates = [
                ("SW-key, little-endian words", SW_KEY_LE_WORDS),
                ("SW-key, bytes reversed", SW_KEY_REVERSED),
            ]
        layouts = ["mcuboot"] + (["rom"] if len(dump) >= ROM_HEADER_SIZE else [])
        failures = []
        for layout in layouts:
            for label, candidate in candidates:
                try:
                    decoded = decode_block(dump, candidate, layout=layout)
                except DumpFormatError as err:
                    failures.append(f"{layout} layout with {label}: {err}")
                    continue
                return self._verdict(dump, decoded, label)
        return Inspection("bee", False, problems=tuple(failures))

    def _verdict(self, dump: bytes, decoded: DecodedBlock, key_label: str) -> Inspection:
        prdb = decoded.prdb
        start, end = prdb.region()
        problems = list(decoded.problems)
        if decoded.layout == "mcuboot":
            problems += mcuboot_problems(prdb)
        fields = [
            ("layout", "MCUboot bee_cfg_t" if decoded.layout == "mcuboot" else "ROM region header"),
            ("key", key_label),
            ("region", f"{start:#010x}..{end:#010x}"),
            ("aes mode", "CTR" if prdb.aes_mode == MODE_CTR else "ECB"),
            ("lock", f"{prdb.lock:#x}"),
            ("fac count", str(prdb.fac_count)),
            ("nonce", prdb.nonce.hex()),
        ]
        fields += [
            (f"fac {i}", f"{f.start:#010x}..{f.end:#010x} level {f.level}")
            for i, f in enumerate(prdb.facs)
            if f is not None
        ]
        if decoded.layout == "mcuboot" and len(dump) >= 2 * 64 + CFG_SIZE:
            report = inspect_sector(dump, config_size=CFG_SIZE)
            versions = ", ".join(v.value for v in report.versions) or "none"
            fields.append(
                ("trailer", f"{versions} ({'complete' if report.complete else 'incomplete'})")
            )
            problems += report.problems
        return Inspection("bee", not problems, tuple(fields), tuple(problems))

    def export_nxpimage(self, config_path: Path, overrides: Mapping[str, object]) -> XipResult:
        cfg = NxpimageConfig.load_file(config_path)
        return export_nxpimage(cfg)


# --- nxpimage bee export -------------------------------------------------------------


@dataclass
class _Header:
    device_key: bytes
    kib: Kib
    prdb: Prdb

    def region(self) -> tuple[int, int]:
        return self.prdb.region()


#: The short family names ``nxpimage`` resolves (SPSDK 3.12 device database aliases).
FAMILY_ALIASES: Final = {
    "rt1015": "mimxrt1015",
    "rt102x": "mimxrt1024",
    "rt104x": "mimxrt1040",
    "rt105x": "mimxrt1050",
    "rt106x": "mimxrt1064",
}


def _family(cfg: NxpimageConfig) -> str:
    family = cfg.get_str("family")
    if family not in FAMILIES and family not in FAMILY_ALIASES:
        raise InputError(
            f"{cfg.path.name}: family {family!r} has no BEE; use one of "
            f"{', '.join([*FAMILY_ALIASES, *FAMILIES])}"
        )
    return FAMILY_ALIASES.get(family, family)


_KEY = Field("key")
#: The keys and types ``nxpimage bee export`` accepts (SPSDK 3.12 ``sch_bee.yaml``).
NXPIMAGE_SCHEMA: Final[Schema] = {
    "family": Field("str", required=True),
    # Every BEE part has one silicon revision in SPSDK's database.
    "revision": Field("str", choices=("a0", "latest")),
    "output_folder": Field("str", required=True),
    "output_name": Field("str"),
    "header_name": Field("str"),
    "data_blobs": Field(
        "list", items={"data": Field("file", required=True), "address": Field("int", required=True)}
    ),
    "engine_selection": Field("str", required=True, choices=("engine0", "engine1", "both")),
    "engine_key_selection": Field("str", choices=("random", "zero")),
    "bee_engine": Field(
        "list",
        required=True,
        min_items=1,
        max_items=2,
        one_of=("bee_cfg", "bee_binary_cfg"),
        items={
            "bee_cfg": Field(
                "map",
                items={
                    "user_key": Field("key", required=True),
                    "engine_key": _KEY,
                    "engine_iv": _KEY,
                    "engine_counter": _KEY,
                    "protected_region": Field(
                        "list",
                        items={
                            "start_address": Field("int", required=True),
                            "length": Field("int", required=True),
                            "protected_level": Field("number", required=True),
                        },
                    ),
                },
            ),
            "bee_binary_cfg": Field(
                "map",
                items={
                    "header_path": Field("str", required=True),
                    "user_key": Field("key", required=True),
                },
            ),
        },
    ),
}


def _fac_from(item: Mapping[str, object], where: str) -> FacRegion:
    # The schema check has made sure the three keys are there and typed.
    start = to_int(item["start_address"], f"{where}.start_address")
    length = to_int(item["length"], f"{where}.length")
    level = to_int(item["protected_level"], f"{where}.protected_level")
    # nxpimage's own check: refused only when both are off the 1 KiB grid.
    if start % CHUNK_SIZE and length % CHUNK_SIZE:
        raise InputError(f"{where}: start and length must be aligned to 1 KiB")
    if not 0 <= level <= 3:
        raise InputError(f"{where}: protected_level {level} is not 0-3")
    if start < 0 or start + length > 0xFFFFFFFF or length <= 0:
        raise InputError(f"{where}: region {start:#x}+{length:#x} is outside 32-bit space")
    return FacRegion(start, start + length, level)


def _load_engine(
    section: NxpimageConfig,
    idx: int,
    headers: list[_Header | None],
    generated: list[OutputFile],
    folder: Path,
) -> _Header:
    if "bee_cfg" in section:
        bee = section.section(section.data["bee_cfg"], "bee_cfg")
        user_key = bee.symmetric_key("user_key", 16, what="user key")
        gen_names = {
            "engine_key": f"bee_engine{idx}_kib_key",
            "engine_iv": f"bee_engine{idx}_kib_iv",
            "engine_counter": f"bee_engine{idx}_counter",
        }
        values: dict[str, bytes] = {}
        for name, size in (("engine_key", 16), ("engine_iv", 16), ("engine_counter", 12)):
            if name in bee:
                values[name] = bee.symmetric_key(name, size, what=name.replace("_", " "))
            else:
                values[name] = _rng.random_bytes(size)
                generated.append(
                    OutputFile(
                        str(folder / f"{gen_names[name]}.bin"),
                        values[name],
                        f"generated {name.replace('_', ' ')} of engine {idx} (SENSITIVE: keep it)",
                    )
                )
        kib = Kib(values["engine_key"], values["engine_iv"])
        facs: list[FacRegion] = []
        for i, item in enumerate(bee.get("protected_region", [])):
            fac = _fac_from(item, f"{section.path.name}: bee_engine[{idx}].protected_region[{i}]")
            taken = [f for h in headers if h for f in h.prdb.used] + facs
            for f in taken:
                if f.start <= fac.start < f.end:
                    raise InputError(
                        f"{section.path.name}: protected region at {fac.start:#x} overlaps "
                        f"{f.start:#x}..{f.end:#x}"
                    )
            facs.append(fac)
        if not 1 <= len(facs) <= FAC_SLOTS:
            raise InputError(
                f"{section.path.name}: bee_engine[{idx}] needs 1-{FAC_SLOTS} protected regions"
            )
        return _Header(user_key, kib, _prdb_of(facs, values))
    if "bee_binary_cfg" in section:
        binary = section.section(section.data["bee_binary_cfg"], "bee_binary_cfg")
        user_key = binary.symmetric_key("user_key", 16, what="user key")
        raw = binary.input_bytes("header_path")
        if len(raw) < ROM_HEADER_SIZE:
            raise InputError(
                f"{binary.get_str('header_path')}: a BEE header is {ROM_HEADER_SIZE} bytes"
            )
        try:
            decoded = decode_block(raw, user_key, layout="rom")
        except DumpFormatError as err:
            raise InputError(f"{binary.get_str('header_path')}: {err}") from None
        where = binary.get_str("header_path")
        prdb = decoded.prdb
        count = prdb.fac_count or 0
        # nxpimage's parser checks only the reserved words and the FACs the count covers.
        if decoded.plain[0x30:0x50] != bytes(32):
            raise InputError(f"{where}: reserved PRDB bytes are not zero")
        if prdb.counter_word0 or prdb.aes_mode != MODE_CTR or not 1 <= count <= FAC_SLOTS:
            raise InputError(f"{where}: not a BEE header nxpimage can use")
        used = prdb.facs[:count]
        for i, region in enumerate(used):
            at = PRDB_HEAD.size + i * FAC.size
            raw = decoded.plain[at : at + FAC.size]
            if region is None or raw[12:] != bytes(20) or region.level > 3:
                raise InputError(f"{where}: FAC {i} is not a valid region")
            if region.start >= region.end:
                raise InputError(f"{where}: FAC {i} is empty or inverted")
            if region.start % CHUNK_SIZE and (region.end - region.start) % CHUNK_SIZE:
                raise InputError(f"{where}: FAC {i} is not aligned to 1 KiB")
        canonical = Prdb(
            tuple([*used, *[None] * (FAC_SLOTS - count)]),
            prdb.nonce,
            aes_mode=prdb.aes_mode,
            lock=prdb.lock,
        )
        return _Header(user_key, decoded.kib, canonical)
    raise InputError(f"{section.path.name}: bee_engine[{idx}] needs bee_cfg or bee_binary_cfg")


def _prdb_of(facs: list[FacRegion], values: Mapping[str, bytes]) -> Prdb:
    padded: list[FacRegion | None] = [*facs, *[None] * (FAC_SLOTS - len(facs))]
    return Prdb(tuple(padded), values["engine_counter"])


def _encrypt_chunk(header: _Header, addr: int, chunk: bytes) -> bytes:
    start, end = header.region()
    if not start <= addr < end:
        return chunk
    for fac in header.prdb.used:
        if fac.start <= addr < fac.end:
            if addr + len(chunk) > fac.end:
                raise InputError(
                    f"data at {addr:#x}..{addr + len(chunk):#x} runs past the end of the "
                    f"protected region {fac.start:#x}..{fac.end:#x}"
                )
            if len(chunk) % 16:
                chunk += _rng.random_bytes(16 - len(chunk) % 16)
            return ctr_keystream_xor(header.device_key, header.prdb.nonce, addr, chunk)
    return chunk


def _chunks(data: bytes, base: int) -> Iterator[tuple[int, bytes]]:
    for off in range(0, len(data), CHUNK_SIZE):
        yield base + off, data[off : off + CHUNK_SIZE]


def encrypt_image(headers: Iterable[_Header], data: bytes, base: int) -> bytes:
    """Encrypt *data* at *base* as ``nxpimage bee`` does (1 KiB chunks, FAC by chunk start)."""
    active = list(headers)
    out = bytearray()
    for addr, chunk in _chunks(data, base):
        for header in active:
            chunk = _encrypt_chunk(header, addr, chunk)
        out += chunk
    return bytes(out)


def export_nxpimage(cfg: NxpimageConfig) -> XipResult:
    """Build the files ``nxpimage bee export -c CONFIG`` writes, with their paths."""
    _family(cfg)
    cfg.check(NXPIMAGE_SCHEMA)
    folder = cfg.output_folder()
    images: list[tuple[bytes, int]] = []
    if "data_blobs" in cfg:
        for i, blob in enumerate(cfg.sections("data_blobs")):
            data = blob.input_bytes("data")
            addr = blob.get_int("address")
            for other, other_addr in images:
                lo, hi = sorted([(other_addr, other), (addr, data)], key=lambda x: x[0])
                if lo[0] + len(lo[1]) > hi[0]:
                    raise InputError(
                        f"{cfg.path.name}: data_blobs[{i}] at {addr:#x} overlaps the blob at "
                        f"{other_addr:#x}"
                    )
            images.append((data, addr))
    selection = cfg.get_str("engine_selection")
    chosen = {"engine0": [0], "engine1": [1], "both": [0, 1]}.get(selection)
    if chosen is None:
        raise InputError(f"{cfg.path.name}: engine_selection must be engine0, engine1 or both")
    sections = cfg.sections("bee_engine")
    headers: list[_Header | None] = [None, None]
    generated: list[OutputFile] = []
    for header_idx in chosen:
        engine_idx = header_idx
        if engine_idx == len(sections) and chosen == [1]:
            engine_idx = 0
        elif engine_idx >= len(sections):
            raise InputError(
                f"{cfg.path.name}: engine_selection {selection!r} needs {header_idx + 1} "
                "bee_engine entries"
            )
        headers[header_idx] = _load_engine(
            sections[engine_idx], header_idx, headers, generated, folder
        )

    if not images:
        encrypted = b""
    elif len(images) == 1 and images[0][0]:
        encrypted = encrypt_image([h for h in headers if h], images[0][0], images[0][1])
    else:
        low = min(a for _, a in images)
        high = max(a + len(d) for d, a in images)
        combined = bytearray(b"\xff" * (high - low))
        for data, addr in images:
            combined[addr - low : addr - low + len(data)] = data
        encrypted = encrypt_image([h for h in headers if h], bytes(combined), low)

    def output(key: str, default: str, extension: str = ".bin") -> str:
        path = cfg.output_path(key, default, folder, extension=extension)
        if path is None:
            # nxpimage bee has no "skip this file" (OTFAD has): it fails writing to "".
            raise InputError(f"{cfg.path.name}: {key} is empty; give a file name or leave it out")
        return str(path)

    files = [OutputFile(output("output_name", "encrypted"), encrypted, "encrypted image")]
    files += [
        OutputFile(
            output("header_name", "bee_ehdr", f"{idx}.bin"),
            rom_header(header.device_key, header.kib, header.prdb),
            f"BEE region {idx} header (flash offset {0x400 * (idx + 1):#x})",
        )
        for idx, header in enumerate(headers)
        if header is not None
    ]
    files += generated
    facts = tuple(
        (f"engine {i} region", "{:#010x}..{:#010x}".format(*h.region()))
        for i, h in enumerate(headers)
        if h
    )
    return XipResult(tuple(files), facts)


@hookimpl
def mcuseal_register_engines(registry: EngineRegistry) -> None:
    registry.add(BeeEngine)
