"""``nxpimage otfad export -c CONFIG`` compatibility: the same files, names and bytes.

Reads SPSDK's OTFAD YAML through :class:`mcuseal.plugins.nxpimage.NxpimageConfig` (so
values, files and paths resolve as ``nxpimage`` resolves them) and lays the outputs out
as SPSDK 3.12 does: the key-blob table at the table address, the data blobs encrypted in
1 KiB units, joined with zero gaps and padded to the data alignment, the whole image,
``readme.txt`` with the memory map, and for RT5xx/RT6xx an SB2.1 ``.bd`` example.
"""

from __future__ import annotations

import binascii
import itertools
import logging
import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mcuseal.errors import EngineUnsupported, InputError, UsageError
from mcuseal.plugins import OutputFile, XipResult
from mcuseal.plugins.nxpimage import Field, NxpimageConfig, Schema, to_int
from mcuseal_otfad.keyblob import (
    FLAG_ADE,
    FLAG_READ_ONLY,
    FLAG_VALID,
    TABLE_SIZE,
    KeyBlob,
    encrypt_data,
    key_blob_table,
)

DATA_UNIT: Final = 0x400

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    """What differs between OTFAD families (SPSDK 3.12 device database)."""

    name: str
    keyblob_byte_swap_cnt: int
    scrambling: bool
    reversed_scramble_key: bool
    sb21: bool
    kek_fuses: bool
    revisions: tuple[str, ...] = ("a0",)


def _families() -> dict[str, Family]:
    out: dict[str, Family] = {}

    def add(names: str, *params: bool | int, revisions: tuple[str, ...] = ("a0",)) -> None:
        for name in names.split():
            swap, scrambling, reversed_key, sb21, fuses = params
            out[name] = Family(
                name,
                int(swap),
                bool(scrambling),
                bool(reversed_key),
                bool(sb21),
                bool(fuses),
                revisions,
            )

    add("mimxrt1010 mimxrt1151 mimxrt1152 mimxrt1165 mimxrt1166", 0, True, False, False, True)
    add("mimxrt1171 mimxrt1172 mimxrt1173 mimxrt1175 mimxrt1176", 0, True, False, False, True)
    add("mimx8ulp", 0, True, False, False, True, revisions=("a0", "a1", "a2"))
    rt118x = " ".join(f"mimxrt118{s}" for s in "1245679ce")
    add(rt118x, 8, True, True, False, True, revisions=("a0", "b0"))
    mx93 = " ".join(
        f"mimx93{n}" for n in ("01", "02", "11", "12", "21", "22", "31", "32", "51", "52")
    )
    add(mx93, 8, True, False, False, True, revisions=("a0", "a1"))
    add("mimx93714 mimx93734 mimx93754", 8, True, True, False, True)
    mx95 = " ".join(f"mimx95{n}" for n in ("12", "14", "16", "32", "34", "36", "42", "44", "46"))
    mx95 += " mimx9554 mimx9584 mimx9586 mimx9594 mimx9596"
    add(mx95, 8, True, True, False, True, revisions=("a0", "a1", "b0"))
    mx952 = " ".join(f"mimx952{n}" for n in ("24", "34", "44", "52", "54", "84", "92", "94"))
    add(mx952, 8, True, True, False, True)
    add(
        "mimxrt533s mimxrt555s mimxrt595s mimxrt685s",
        0,
        False,
        False,
        True,
        False,
        revisions=("a0", "b0"),
    )
    return out


FAMILIES: Final = _families()
#: The short names ``nxpimage`` resolves (``spsdk_predecessor_name`` in SPSDK's database).
ALIASES: Final = {
    "rt1010": "mimxrt1010",
    "rt115x": "mimxrt1151",
    "rt116x": "mimxrt1166",
    "rt117x": "mimxrt1176",
    "rt118x": "mimxrt1189",
    "rt5xx": "mimxrt595s",
    "rt6xx": "mimxrt685s",
    "mx8ulp": "mimx8ulp",
    "mx93": "mimx9352",
    "mx95": "mimx9596",
    "mx952": "mimx95294",
}


def resolve_family(name: str) -> Family:
    """The family *name* denotes, spelt exactly as ``nxpimage`` takes it (lower case)."""
    family = FAMILIES.get(ALIASES.get(name, name))
    if family is None:
        known = ", ".join([*ALIASES, *FAMILIES])
        raise InputError(f"family {name!r} has no OTFAD here; use one of {known}")
    return family


_NUMBER = Field("int", required=True)
_FLAG = Field("bool")
#: The keys and types ``nxpimage otfad export`` accepts (SPSDK 3.12 ``sch_otfad.yaml``).
SCHEMA: Final[Schema] = {
    "family": Field("str", required=True),
    "output_folder": Field("str", required=True),
    "output_format": Field("str", choices=("bin", "hex", "srec", "sparse")),
    "output_name": Field("str"),
    "keyblob_name": Field("str"),
    "encrypted_name": Field("str"),
    "generate_readme": _FLAG,
    "kek": Field("key", required=True),
    "otfad_table_address": _NUMBER,
    # An empty list crashes nxpimage; refuse it plainly.
    "data_blobs": Field(
        "list", min_items=1, items={"data": Field("file", required=True), "address": _NUMBER}
    ),
    "key_blobs": Field(
        "list",
        required=True,
        min_items=1,
        items={
            "aes_key": _NUMBER,
            "aes_ctr": _NUMBER,
            "start_address": _NUMBER,
            "end_address": _NUMBER,
            "aes_decryption_enable": _FLAG,
            "valid": _FLAG,
            "read_only": _FLAG,
        },
    ),
}
#: Only families with key scrambling have ``key_scramble`` in their schema.
SCRAMBLE_SCHEMA: Final[Schema] = {
    "key_scramble": Field(
        "map", items={"key_scramble_mask": _NUMBER, "key_scramble_align": _NUMBER}
    ),
}


# --- the memory map SPSDK writes into readme.txt ---------------------------------------


def _size_fmt(num: float) -> str:
    units = ["B", "kiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while num >= 1024.0 and i < len(units) - 1:
        num /= 1024.0
        i += 1
    unit = units[i]
    return f"{int(num)} {unit}" if unit == "B" else f"{num:3.1f} {unit}"


def _addr(value: int) -> str:
    digits = f"{value:08x}"
    return f"0x{digits[:4]}_{digits[4:]}"


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment if alignment > 1 else value


@dataclass
class _Region:
    """A named span of the output image (the part of SPSDK's BinaryImage we need)."""

    name: str
    offset: int
    data: bytes = b""
    alignment: int = 1
    size: int = 0
    description: str = ""
    children: list[_Region] = field(default_factory=list)
    parent: _Region | None = None

    def add(self, child: _Region) -> None:
        child.parent = self
        self.children.append(child)
        self.children.sort(key=lambda c: c.offset)

    def __len__(self) -> int:
        if self.size:
            return self.size
        end = max([len(self.data), *(c.offset + len(c) for c in self.children)])
        return _align(end, self.alignment)

    @property
    def absolute(self) -> int:
        return self.offset + (self.parent.absolute if self.parent else 0)

    @property
    def full_name(self) -> str:
        return f"{self.parent.full_name}=>{self.name}" if self.parent else self.name

    def export(self) -> bytes:
        out = bytearray(len(self))
        out[: len(self.data)] = self.data
        for child in self.children:
            blob = child.export()
            out[child.offset : child.offset + len(blob)] = blob
        return bytes(out)

    def size_line(self) -> str:
        size = len(self)
        if size >= 1024:
            grouped = ",".join(re.findall(".{1,3}", str(size)[::-1]))[::-1]
            return f"Size: {_size_fmt(size)}; {grouped} B"
        return f"Size: {_size_fmt(size)}"

    def min_width(self) -> int:
        widths = [30, len(f"+==-0x0000_0000= {self.name} =+"), len(f"|{self.size_line()}|")]
        widths += [c.min_width() + 2 for c in self.children]
        return max(widths)

    def draw(self, width: int = 0) -> str:
        def centered(text: str) -> str:
            spaces = width - len(text) - 2
            left = spaces // 2
            return f"│{' ' * left}{text}{' ' * (spaces - left)}│\n"

        if not width:
            width = self.min_width()
        block = "" if self.parent else "\n"
        header = f"┌──{_addr(self.absolute)}─ {self.name} ─"
        block += header + "─" * (width - len(header) - 1) + "┐\n"
        block += centered(self.size_line())
        if self.description:
            for line in textwrap.wrap(self.description, width=width - 2, fix_sentence_endings=True):
                block += centered(line)
        next_free = 0
        for child in self.children:
            if child.offset != next_free:
                block += centered(f"Gap: {_size_fmt(child.offset - next_free)}")
            next_free = child.offset + len(child)
            block += "".join(f"│{line}│\n" for line in child.draw(width - 2).splitlines())
        footer = f"└──{_addr(self.absolute + len(self) - 1)}──"
        block += footer + "─" * (width - len(footer) - 1) + "┘\n"
        return block + ("\n" if self.parent is None else "")

    def describe(self) -> str:
        size = len(self)
        text = (
            f"Name:      {self.full_name}\n"
            f"Starts:    {hex(self.absolute)}\n"
            f"Ends:      {hex(self.absolute + size - 1)}\n"
            f"Size:      {self.size_line()}\n"
            f"Alignment: {_size_fmt(self.alignment)}\n"
            "Execution Start Address: Not defined\n"
        )
        return text + (self.description + "\n" if self.description else "")


# --- the export -------------------------------------------------------------------------


def _key_blob(section: NxpimageConfig, index: int) -> KeyBlob:
    where = f"{section.path.name}: key_blobs[{index}]"
    try:
        key = to_int(section.require("aes_key"), f"{where}.aes_key").to_bytes(16, "big")
        ctr = to_int(section.require("aes_ctr"), f"{where}.aes_ctr").to_bytes(8, "big")
    except OverflowError:
        raise InputError(f"{where}: aes_key is 16 bytes and aes_ctr 8 bytes") from None
    flags = 0
    if section.get("aes_decryption_enable", True):
        flags |= FLAG_ADE
    if section.get("valid", True):
        flags |= FLAG_VALID
    if section.get("read_only", True):
        flags |= FLAG_READ_ONLY
    try:
        return KeyBlob(
            section.get_int("start_address"), section.get_int("end_address"), key, ctr, flags
        )
    except UsageError as err:
        raise InputError(f"{where}: {err}") from None


def _encrypt_blob(blobs: list[KeyBlob], data: bytes, base: int) -> bytes:
    out = bytearray(data)
    for off in range(0, len(data), DATA_UNIT):
        unit = data[off : off + DATA_UNIT]
        addr = base + off
        for blob in blobs:
            if blob.covers(addr, addr + len(unit) - 1) and blob.encrypts:
                out[off : off + len(unit)] = encrypt_data(blob, addr, unit)
    return bytes(out)


def export(
    cfg: NxpimageConfig, *, data_alignment: int = 512, index: int | None = None
) -> XipResult:
    """Everything ``nxpimage otfad export -c CONFIG [-a N] [-i N]`` writes."""
    family = resolve_family(cfg.get_str("family"))
    cfg.check(
        {
            **SCHEMA,
            **(SCRAMBLE_SCHEMA if family.scrambling else {}),
            "revision": Field("str", choices=(*family.revisions, "latest")),
        }
    )
    revision = cfg.get("revision", "latest")
    fmt = cfg.get("output_format", "bin")
    if fmt != "bin":
        raise EngineUnsupported(
            f"output_format {fmt!r}: mcuseal writes binary files only; use 'bin' or nxpimage"
        )
    if index and family.kek_fuses:
        raise EngineUnsupported(
            "the blhost fuse script that '-i' adds is not made by mcuseal; "
            "run 'nxpimage otfad export -i' for it"
        )
    kek = cfg.symmetric_key("kek", 16, what="KEK")
    table_addr = cfg.get_int("otfad_table_address")
    blob_cfgs = cfg.sections("key_blobs")
    if not 1 <= len(blob_cfgs) <= 4:
        raise InputError(f"{cfg.path.name}: key_blobs needs 1-4 entries")
    blobs = [_key_blob(b, i) for i, b in enumerate(blob_cfgs)]
    full = [*blobs, *[KeyBlob.unused()] * (4 - len(blobs))]
    scramble = None
    if family.scrambling and "key_scramble" in cfg:
        ks = cfg.section(cfg.get("key_scramble"), "key_scramble")
        scramble = (ks.get_int("key_scramble_mask"), ks.get_int("key_scramble_align"))
    table = key_blob_table(
        full,
        kek,
        byte_swap_cnt=family.keyblob_byte_swap_cnt,
        scramble=scramble,
        reverse_scramble_mask=family.reversed_scramble_key,
    )

    folder = cfg.output_folder()
    start = min(b.start for b in blobs)
    data_region: _Region | None = None
    if "data_blobs" in cfg:
        items = cfg.sections("data_blobs")
        addrs = [item.get_int("address", 0) for item in items]
        start = min(min(addrs), start)
        if start < table_addr:
            raise InputError(
                f"{cfg.path.name}: data or key blob at {start:#x} lies below "
                f"otfad_table_address {table_addr:#x}; the image starts at the table"
            )
        if data_alignment <= 0:
            raise UsageError(f"data alignment must be positive, not {data_alignment}")
        name = _output_name(
            cfg, "encrypted_name", "encrypted_blobs", cfg.config_dir / cfg.get_str("output_folder")
        )
        joined = _Region(name, start - table_addr)
        for item, addr in zip(items, addrs, strict=True):
            raw = item.input_bytes("data")
            _refuse_non_binary(raw, item.get_str("data"))
            padded = raw + bytes(_align(len(raw), 16) - len(raw))
            joined.add(
                _Region(item.get_str("data"), addr - start, _encrypt_blob(full, padded, addr))
            )
        _check_overlaps(joined, cfg)
        data_region = _Region(name, start - table_addr, joined.export(), alignment=data_alignment)
    else:
        _log.warning("%s has no data_blobs: only the key-blob table is made", cfg.path.name)

    table_name = _output_name(cfg, "keyblob_name", "OTFAD_Table", folder)
    whole_name = _output_name(cfg, "output_name", "otfad_whole_image", folder)
    top = _Region("OTFAD", 0)
    top.add(
        _Region(
            table_name,
            0,
            table,
            alignment=256,
            size=TABLE_SIZE,
            description=f"OTFAD description table for {family.name}, Revision: {revision}",
        )
    )
    if data_region is not None:
        top.add(data_region)

    files: list[OutputFile] = []
    if whole_name:
        files.append(OutputFile(whole_name, top.export(), "table and encrypted data, as in flash"))
    memory_map = (
        "In folder is stored two kind of files:\n"
        "  -  Binary file that contains whole image data including "
        "OTFAD table and key blobs data 'otfad_whole_image.bin'.\n"
    )
    if family.sb21:
        memory_map += (
            "  -  Example of BD file to simplify creating the SB2.1 file from the OTFAD "
            "source files.\n"
        )
    memory_map += (
        "  -  Set of separated binary files, one with OTFAD table, and one for each used key "
        f"blob.\n\nOTFAD memory map:\n{top.draw()}"
    )
    sources, section = "sources {", "section (0) {"
    for i, region in enumerate(top.children):
        if region.name:
            # As nxpimage: only a written part is moved to offset 0, so the .bd example
            # gives a nameless part at its place in the image, a named one at the top's.
            region.offset = 0
            files.append(OutputFile(region.name, region.export(), _what(region, table_name)))
            memory_map += f"\n{region.name}:\n{region.describe()}"
        sources += f'\n    image{i} = "{region.name}";'
        section += f"\n    // Load Image: {region.name}"
        section += f"\n    erase {hex(region.absolute)}..{hex(region.absolute + len(region))};"
        section += f"\n    load image{i} > {hex(region.absolute)}"
    if cfg.get("generate_readme", True):
        files.append(OutputFile(str(folder / "readme.txt"), memory_map.encode(), "memory map"))
    if family.sb21:
        bd = (
            "options {\n"
            "    flags = 0x8; // for sb2.1 use only 0x8 encrypted + signed\n"
            "    buildNumber = 0x1;\n"
            '    productVersion = "1.00.00";\n'
            '    componentVersion = "1.00.00";\n'
            '    secureBinaryVersion = "2.1";\n'
            "}\n"
        ) + f"{sources}\n}}\n{section}\n}}\n"
        files.append(
            OutputFile(str(folder / "sb21_otfad_example.bd"), bd.encode(), "SB2.1 example")
        )
    facts = tuple(
        (f"context {i}", f"{b.start:#010x}..{b.end:#010x} flags {b.flags:#x}")
        for i, b in enumerate(blobs)
    )
    return XipResult(tuple(files), facts)


def _refuse_non_binary(raw: bytes, name: str) -> None:
    """nxpimage parses ELF, S-record, Intel HEX and sparse files; mcuseal reads raw binaries.

    Refuse exactly what nxpimage would parse (its detection: magic numbers, or ASCII whose
    first line is a well-formed record), rather than encrypting it as raw bytes; anything
    else nxpimage, too, reads as a raw binary.
    """
    head = raw[:4096]
    kind = None
    if head[:4] == b"\x7fELF":
        kind = "an ELF file"
    elif int.from_bytes(head[:4], "little") == 0xED26FF3A:
        kind = "a sparse image"
    else:
        kind = _record_file_kind(head)
    if kind:
        raise EngineUnsupported(
            f"data blob {name} looks like {kind}; mcuseal reads raw binaries only "
            "(convert it with 'objcopy -O binary')"
        )


def _record_file_kind(head: bytes) -> str | None:
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return None
    first = text.split("\n")[0].strip()[:1]
    line = text.partition("\n")[0].rstrip()
    if first == "S" and _is_record(line, "S"):
        return "an S-record file"
    if first == ":" and _is_record(line, ":"):
        return "an Intel HEX file"
    return None


def _is_record(line: str, start: str) -> bool:
    """A well-formed first record: size, type and checksum agree (S-record or Intel HEX)."""
    srec = start == "S"
    if len(line) < (6 if srec else 11) or line[0] != start:
        return False
    body = line[2:] if srec else line[1:]
    try:
        value = bytes.fromhex(body)  # like bincopy: whitespace between bytes is allowed
        summed = sum(binascii.unhexlify(body[:-2]))  # ... but not in the checksum
    except ValueError:
        return False
    if not value or value[0] != len(value) - (1 if srec else 5):
        return False
    if srec and line[1] not in "012356789":
        return False
    expected = (summed & 0xFF) ^ 0xFF if srec else -summed & 0xFF
    return value[-1] == expected


def _what(region: _Region, table_name: str) -> str:
    return "OTFAD key-blob table" if region.name == table_name else "encrypted data blobs"


def _output_name(cfg: NxpimageConfig, key: str, default: str, folder: Path) -> str:
    path = cfg.output_path(key, default, folder)
    return "" if path is None else str(path).replace(os.sep, "/")


def _check_overlaps(joined: _Region, cfg: NxpimageConfig) -> None:
    spans = sorted((c.offset, c.offset + len(c)) for c in joined.children)
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start < end:
            raise InputError(f"{cfg.path.name}: data_blobs overlap")
