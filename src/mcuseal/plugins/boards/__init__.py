"""Board presets (data files beside this module) and the ``xip plan`` they feed.

Each ``*.yaml`` here describes one board: flash geometry, slot and metadata addresses,
engine, supported modes and the imgtool parameters from NXP's documentation.  Values
not confirmed in NXP's sources are listed under ``unverified`` and printed as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from mcuseal.errors import InputError, UsageError
from mcuseal.plugins.types import SlotLayout, XipMode

_LAYOUT_KEYS = ("flash_base", "slot0", "slot1", "slot_size", "sector_size", "page_size")


@dataclass(frozen=True)
class ImgtoolParams:
    """The imgtool-compatible options a board's images are signed with."""

    align: int
    header_size: int
    pad_header: bool
    slot_size: int
    max_sectors: int

    def options(self) -> list[str]:
        out = ["--align", str(self.align), "--header-size", f"{self.header_size:#x}"]
        if self.pad_header:
            out.append("--pad-header")
        out += ["--slot-size", f"{self.slot_size:#x}", "--max-sectors", str(self.max_sectors)]
        return out


@dataclass(frozen=True)
class Board:
    """One board preset."""

    name: str
    title: str
    engine: str
    family: str
    modes: tuple[XipMode, ...]
    layout: SlotLayout
    imgtool: ImgtoolParams
    aliases: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()
    sources: tuple[str, ...] = field(default=())


def _board(data: dict[str, Any], source: str) -> Board:
    try:
        base, slot0, slot1, slot_size, sector_size, page_size = (int(data[k]) for k in _LAYOUT_KEYS)
        layout = SlotLayout(
            base,
            slot0,
            slot1,
            slot_size,
            sector_size,
            page_size,
            meta0_addr=data.get("meta0"),
            meta1_addr=data.get("meta1"),
        )
        img = data["imgtool"]
        return Board(
            name=str(data["name"]),
            title=str(data["title"]),
            engine=str(data["engine"]),
            family=str(data["family"]),
            modes=tuple(XipMode(m) for m in data["modes"]),
            layout=layout,
            imgtool=ImgtoolParams(
                int(img["align"]),
                int(img["header_size"]),
                bool(img["pad_header"]),
                int(img["slot_size"]),
                int(img["max_sectors"]),
            ),
            aliases=tuple(data.get("aliases") or ()),
            unverified=tuple(str(u) for u in data.get("unverified") or ()),
            sources=tuple(data.get("sources") or ()),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"board preset {source} is malformed: {err}") from None


@cache
def boards() -> dict[str, Board]:
    """All presets, by name."""
    out = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            board = _board(yaml.safe_load(entry.read_text(encoding="utf-8")), entry.name)
            out[board.name] = board
    return out


def load_board(name: str) -> Board:
    """The preset called *name* (or one of its aliases, case-insensitive).

    :raises UsageError: no such board, listing the known ones.
    """
    wanted = name.lower().replace("-", "_")
    for board in boards().values():
        names = {board.name, *(a.lower().replace("-", "_") for a in board.aliases)}
        if wanted in names:
            return board
    known = ", ".join(boards())
    raise UsageError(f"no board preset {name!r}; known boards: {known}")


@dataclass(frozen=True)
class Plan:
    """What ``mcuseal xip plan`` prints."""

    board: Board
    mode: XipMode
    layout: tuple[tuple[str, str], ...]
    sign_command: str
    first_image_command: str
    provision_command: str
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "board": self.board.name,
            "engine": self.board.engine,
            "mode": self.mode.value,
            "layout": dict(self.layout),
            "sign_command": self.sign_command,
            "first_image_command": self.first_image_command,
            "provision_command": self.provision_command,
            "unverified": list(self.board.unverified),
            "notes": list(self.notes),
        }


def _mark(board: Board, key: str, text: str) -> str:
    return f"{text}  (UNVERIFIED)" if key in board.unverified else text


def plan(
    board: Board,
    mode: str,
    *,
    key: str = "root-ec-p256.pem",
    enc_key: str = "enc-ec256-pub.pem",
) -> Plan:
    """The layout of *board* in *mode* and the exact ``mcuseal sign`` commands.

    OVERWRITE_ONLY: the OTA image is signed and encrypted for MCUboot (ECIES-P256,
    ``-E``); MCUboot decrypts it and re-encrypts it for the XIP engine while
    installing.  FLASH_REMAP: the image is signed only; the application re-encrypts
    it with IPED while downloading, so MCUboot never sees an encrypted OTA payload.
    """
    xmode = XipMode(mode)
    if xmode not in board.modes:
        supported = ", ".join(m.value for m in board.modes)
        raise UsageError(f"board {board.name} supports {supported}, not {mode}")
    lay = board.layout
    rows = [
        ("engine", board.engine),
        ("flash base", _mark(board, "flash_base", f"{lay.flash_base:#010x}")),
        ("slot 0 (primary, executes)", _mark(board, "slot0", f"{lay.slot0_addr:#010x}")),
        ("slot 1 (candidate)", _mark(board, "slot1", f"{lay.slot1_addr:#010x}")),
        ("slot size", _mark(board, "slot_size", f"{lay.slot_size:#x}")),
        (
            "sector / page",
            _mark(board, "sector_size", f"{lay.sector_size:#x} / {lay.page_size:#x}"),
        ),
    ]
    if lay.meta0_addr is not None:
        rows.append(("metadata slot 0", _mark(board, "meta0", f"{lay.meta0_addr:#010x}")))
    if xmode is XipMode.FLASH_REMAP and lay.meta1_addr is not None:
        rows.append(("metadata slot 1", _mark(board, "meta1", f"{lay.meta1_addr:#010x}")))
    opts = " ".join(board.imgtool.options())
    if "imgtool" in board.unverified:
        rows.append(("imgtool parameters", f"{opts}  (UNVERIFIED for this board)"))
    notes: list[str] = []
    signed = f"mcuseal sign --key {key} {opts} --version 1.0.0 app.bin app.signed.bin"
    if xmode is XipMode.OVERWRITE_ONLY:
        sign = (
            f"mcuseal sign --key {key} {opts} --version 1.0.0 -E {enc_key} "
            "app.bin app.signed.encrypted.bin"
        )
        first = signed
        notes.append(
            "OTA images are signed and ECIES-P256 encrypted (-E); MCUboot decrypts them and "
            f"re-encrypts for {board.engine.upper()} while copying into slot 0"
        )
    else:
        sign = first = signed
        notes.append(
            "FLASH_REMAP images are signed only: the application re-encrypts them with IPED "
            "while downloading, so MCUboot never sees an encrypted OTA payload"
        )
    if board.engine == "npx":
        provision = f"mcuseal xip npx build --board {board.name} -o xip-out"
        notes.append("NPX needs no metadata sector: program the CMPA fields once")
    else:
        provision = (
            f"mcuseal xip {board.engine} build --board {board.name} --mode {xmode.value} "
            "--image app.signed.bin -o xip-out"
        )
    unverified = [u for u in board.unverified]
    if unverified:
        notes.append(f"UNVERIFIED in NXP's sources: {', '.join(unverified)}")
    return Plan(board, xmode, tuple(rows), sign, first, provision, tuple(notes))
