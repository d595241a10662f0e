"""NPX (MCX N9x on-chip flash): the CMPA fields that select encrypted 32 KiB blocks.

NPX (NVM PRINCE encryption/decryption) is configured entirely by the ROM from the CMPA
page: a 64-bit bitmap of 32 KiB blocks per context (``NPX_CTXn_WD0/WD1`` at 0x90-0xAC)
and, in the word at 0x54 (``RoTK_USAGE``), an erase-check and a lock field of two bits
per context.  The key is device-internal and the ROM derives the IV from the UUID, the
region and an erase counter in the CFPA, so there is no configuration block, no
metadata sector and no way to pre-encrypt data on the host: MCUboot's NPX platform
layer does nothing.  What the host makes is the CMPA settings for a slot layout, with
the slot's last 32 KiB block left plain for MCUboot's trailer.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Final

import yaml

from mcuseal.errors import UsageError
from mcuseal.plugins.manager import EngineRegistry
from mcuseal.plugins.spec import hookimpl
from mcuseal.plugins.types import (
    Artifact,
    EncryptionEngine,
    EngineCaps,
    OutputFile,
    XipMode,
    XipRequest,
    XipResult,
)

BLOCK_SIZE: Final = 0x8000
BLOCKS_PER_CONTEXT: Final = 64
CONTEXTS: Final = 4
#: CMPA offsets of NPX_CTX0_WD0 ... NPX_CTX3_WD1.
CTX_OFFSET: Final = 0x90
ROTK_USAGE_OFFSET: Final = 0x54
ERASE_CHECK_SHIFT: Final = 16  # REGn_ERASE_CHECK_EN: 2 bits per context, 0b1x = enabled
LOCK_SHIFT: Final = 24  # NPX_LOCK_CTXn: 2 bits per context, non-zero = locked
ERASE_CHECK_ON: Final = 0b10
LOCK_ON: Final = 0b01

DEVICE_ONLY_REASON: Final = (
    "the NPX key never leaves the chip and the ROM derives each IV from the UUID, the "
    "region and an erase counter, so data cannot be pre-encrypted and there is no "
    "configuration block"
)
BIT_ORDER_NOTE: Final = (
    "UNVERIFIED: bit i of NPX_CTXn_WD0||WD1 is taken to select the 32 KiB block at "
    "flash offset i*0x8000 (the SPSDK register description does not state the order)"
)


@dataclass(frozen=True)
class NpxContext:
    """One context's blocks: ``[start, end)`` in flash offsets, 32 KiB aligned."""

    index: int
    start: int
    end: int
    erase_check: bool = True
    lock: bool = False

    def bitmap(self) -> int:
        if self.start % BLOCK_SIZE or self.end % BLOCK_SIZE or self.start >= self.end:
            raise UsageError(
                f"NPX context {self.index}: {self.start:#x}..{self.end:#x} is not a non-empty "
                "range of whole 32 KiB blocks"
            )
        first, last = self.start // BLOCK_SIZE, self.end // BLOCK_SIZE
        if last > BLOCKS_PER_CONTEXT:
            raise UsageError(f"NPX context {self.index} reaches past 2 MiB of flash")
        return ((1 << (last - first)) - 1) << first


def cmpa_words(contexts: list[NpxContext]) -> dict[int, int]:
    """CMPA offset -> word value for the NPX fields (0x54 holds only the NPX bits)."""
    words = {CTX_OFFSET + 4 * i: 0 for i in range(2 * CONTEXTS)}
    usage = 0
    taken = 0
    for ctx in contexts:
        if not 0 <= ctx.index < CONTEXTS:
            raise UsageError(f"NPX has contexts 0-{CONTEXTS - 1}, not {ctx.index}")
        bits = ctx.bitmap()
        if bits & taken:
            raise UsageError(f"NPX context {ctx.index} overlaps another context's blocks")
        taken |= bits
        words[CTX_OFFSET + 8 * ctx.index] = bits & 0xFFFFFFFF
        words[CTX_OFFSET + 8 * ctx.index + 4] = bits >> 32
        if ctx.erase_check:
            usage |= ERASE_CHECK_ON << (ERASE_CHECK_SHIFT + 2 * ctx.index)
        if ctx.lock:
            usage |= LOCK_ON << (LOCK_SHIFT + 2 * ctx.index)
    words[ROTK_USAGE_OFFSET] = usage
    return words


def pfr_settings(contexts: list[NpxContext], family: str) -> dict[str, Any]:
    """An SPSDK ``pfr export`` configuration holding only the NPX fields."""
    words = cmpa_words(contexts)
    enabled = {c.index: c for c in contexts}
    usage: dict[str, str] = {}
    for i in range(CONTEXTS):
        ctx = enabled.get(i)
        usage[f"REG{i}_ERASE_CHECK_EN"] = (
            "ENABLED_0b10" if ctx and ctx.erase_check else "DISABLED_0b00"
        )
        usage[f"NPX_LOCK_CTX{i}"] = "LOCKED_0B01" if ctx and ctx.lock else "NOT_LOCKED_0B00"
    settings: dict[str, Any] = {"RoTK_USAGE": usage}
    for i in range(CONTEXTS):
        for w in range(2):
            settings[f"NPX_CTX{i}_WD{w}"] = f"{words[CTX_OFFSET + 8 * i + 4 * w]:#010x}"
    return {"family": family, "type": "CMPA", "settings": settings}


class NpxEngine(EncryptionEngine):
    """NPX on MCX N9x: CMPA context bitmaps and lock/erase-check bits."""

    name = "npx"
    description = "MCX N9x NVM PRINCE (configured by the ROM from the CMPA)"
    families = ("mcxn946", "mcxn947")
    caps = EngineCaps(
        host=frozenset({Artifact.PFR_FIELDS}),
        device_only=frozenset({Artifact.ENCRYPTED_DATA, Artifact.KEYS}),
        device_only_reason=DEVICE_ONLY_REASON,
        config_block_size=0,
        modes=frozenset({XipMode.OVERWRITE_ONLY}),
    )

    def __init__(
        self, *, family: str = "mcxn947", bootloader: bool = True, lock: bool = False
    ) -> None:
        self.family = family
        self.bootloader = bootloader
        self.lock = lock

    @classmethod
    def add_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--npx-family", default="mcxn947", help="SPSDK family for 'pfr'")
        group.add_argument(
            "--npx-no-bootloader",
            action="store_true",
            help="leave MCUboot's own region (context 0) unencrypted",
        )
        group.add_argument("--npx-lock", action="store_true", help="lock the NPX contexts")

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> NpxEngine:
        return cls(
            family=getattr(ns, "npx_family", "mcxn947"),
            bootloader=not getattr(ns, "npx_no_bootloader", False),
            lock=getattr(ns, "npx_lock", False),
        )

    def contexts(self, request: XipRequest) -> list[NpxContext]:
        layout = request.layout
        slot0 = layout.slot0_addr - layout.flash_base
        # The slot's last 32 KiB block holds MCUboot's trailer and stays plain.
        slot_end = slot0 + layout.slot_size - BLOCK_SIZE
        out = []
        if self.bootloader and slot0 > 0:
            out.append(NpxContext(0, 0, slot0, lock=self.lock))
        out.append(NpxContext(1, slot0, slot_end, lock=self.lock))
        return out

    def build(self, request: XipRequest) -> XipResult:
        if request.mode is not XipMode.OVERWRITE_ONLY:
            raise UsageError("NPX supports only the overwrite-only mode")
        contexts = self.contexts(request)
        words = cmpa_words(contexts)
        text = (
            "# NPX fields of the CMPA page, made by mcuseal.  Merge them into your full CMPA\n"
            "# configuration (RoTK_USAGE also carries root-key usage bits), then:\n"
            "#   pfr export -c cmpa.yaml -o cmpa.bin\n"
        ) + str(yaml.safe_dump(pfr_settings(contexts, self.family), sort_keys=False))
        facts = [
            (
                f"context {c.index}",
                f"{c.start:#08x}..{c.end - 1:#08x} ({(c.end - c.start) // BLOCK_SIZE} blocks)",
            )
            for c in contexts
        ]
        facts += [(f"CMPA {off:#06x}", f"{val:#010x}") for off, val in sorted(words.items())]
        files = (OutputFile("npx_cmpa.yaml", text.encode(), "SPSDK pfr settings (NPX fields)"),)
        return XipResult(files, tuple(facts), (DEVICE_ONLY_REASON, BIT_ORDER_NOTE))


@hookimpl
def mcuseal_register_engines(registry: EngineRegistry) -> None:
    registry.add(NpxEngine)
