"""Types of the engine contract: the base class, its capabilities and its data in and out.

An encryption engine is a class (not an instance) registered under a short lowercase
name.  It is built with plain keyword values (``Engine(**options)``) or from parsed
command-line options (``Engine.from_args(ns)``); after that it only sees frozen
dataclasses and bytes, and only returns them.  It never prints, never exits and never
reads a Namespace outside :meth:`EncryptionEngine.from_args`.
"""

from __future__ import annotations

import abc
import argparse
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from mcuseal.errors import EngineUnsupported, UsageError

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,15}$")


class XipMode(str, enum.Enum):
    """MCUboot's encrypted-XIP upgrade modes (NXP extension)."""

    OVERWRITE_ONLY = "overwrite-only"
    FLASH_REMAP = "flash-remap"


class Artifact(str, enum.Enum):
    """Things an engine workflow needs; :class:`EngineCaps` says who can make each one."""

    #: The platform configuration block at offset 0 of the encryption-metadata sector.
    CONFIG_BLOCK = "config-block"
    #: The ROM-consumed header or key-blob table for the bootloader region.
    ROM_HEADER = "rom-header"
    #: Pre-encrypted image data for the initial programming.
    ENCRYPTED_DATA = "encrypted-data"
    #: A complete metadata sector (configuration block, fill, trailer).
    METADATA_SECTOR = "metadata-sector"
    #: A provisioning script (SB3.1 command list, blhost script).
    PROVISIONING = "provisioning"
    #: Protected-flash (CMPA/CFPA) field values.
    PFR_FIELDS = "pfr-fields"
    #: The data key, counters or IVs.
    KEYS = "keys"


@dataclass(frozen=True)
class EngineCaps:
    """What an engine can make on the host, and what only the device can make.

    :param host: artefacts the engine produces on the host, byte-exact with the device.
    :param device_only: artefacts that exist but only the chip can make (keys that never
        leave it, ROM-generated IVs); :attr:`device_only_reason` says why.
    :param device_only_reason: one sentence shown in output and docs next to the list.
    :param parses_dumps: :meth:`EncryptionEngine.inspect` checks a dumped block.
    :param nxpimage_export: :meth:`EncryptionEngine.export_nxpimage` accepts SPSDK
        ``nxpimage`` configuration files.
    :param config_block_size: size of the configuration block in the metadata sector
        (0 when the engine has none).
    :param modes: the MCUboot modes the engine supports.
    """

    host: frozenset[Artifact]
    device_only: frozenset[Artifact] = frozenset()
    device_only_reason: str = ""
    parses_dumps: bool = False
    nxpimage_export: bool = False
    config_block_size: int = 0
    modes: frozenset[XipMode] = frozenset({XipMode.OVERWRITE_ONLY})

    def __post_init__(self) -> None:
        both = self.host & self.device_only
        if both:
            names = ", ".join(sorted(a.value for a in both))
            raise ValueError(f"EngineCaps lists {names} as both host and device_only")
        if self.device_only and not self.device_only_reason:
            raise ValueError("EngineCaps.device_only needs a device_only_reason")
        if self.config_block_size < 0:
            raise ValueError(f"{self.config_block_size=} must be >= 0")
        if not self.modes:
            raise ValueError("EngineCaps.modes must name at least one XipMode")


@dataclass(frozen=True)
class SlotLayout:
    """Where things are in flash, in absolute addresses, as a board defines them.

    :param flash_base: first address of the XIP flash window.
    :param slot0_addr: primary (execution) slot.
    :param slot1_addr: secondary (candidate) slot.
    :param slot_size: size of each slot, including MCUboot's trailer sector.
    :param sector_size: erase sector size of the flash.
    :param page_size: program page size of the flash.
    :param meta0_addr: encryption-metadata sector of slot 0 (``None`` if the engine has none).
    :param meta1_addr: encryption-metadata sector of slot 1 (FLASH_REMAP only).
    """

    flash_base: int
    slot0_addr: int
    slot1_addr: int
    slot_size: int
    sector_size: int
    page_size: int
    meta0_addr: int | None = None
    meta1_addr: int | None = None

    def __post_init__(self) -> None:
        for label, size in (("sector", self.sector_size), ("page", self.page_size)):
            if size <= 0 or size & (size - 1):
                raise UsageError(f"{label} size {size:#x} is not a power of two")
        if self.page_size > self.sector_size:
            raise UsageError(f"page size {self.page_size:#x} exceeds sector size")
        if self.slot_size <= self.sector_size or self.slot_size % self.sector_size:
            raise UsageError(
                f"slot size {self.slot_size:#x} is not a whole number (> 1) of "
                f"{self.sector_size:#x}-byte sectors"
            )
        addrs: list[tuple[str, int | None]] = [("slot 0", self.slot0_addr)]
        addrs.append(("slot 1", self.slot1_addr))
        addrs += [("metadata 0", self.meta0_addr), ("metadata 1", self.meta1_addr)]
        for label, addr in addrs:
            if addr is not None and (addr < self.flash_base or addr % self.sector_size):
                raise UsageError(
                    f"{label} address {addr:#x} is below the flash base or not sector aligned"
                )

    def slot_addr(self, slot: int) -> int:
        return self.slot0_addr if slot == 0 else self.slot1_addr

    def meta_addr(self, slot: int) -> int | None:
        return self.meta0_addr if slot == 0 else self.meta1_addr


@dataclass(frozen=True)
class XipRequest:
    """What the caller wants built for one board layout.

    :param layout: the flash layout.
    :param mode: the MCUboot mode.
    :param image: the plain (signed, unencrypted) MCUboot image for slot 0, if the
        engine should pre-encrypt it or build a provisioning list for it.
    :param trailer_version: metadata trailer version name (see
        :class:`mcuseal.plugins.metadata.TrailerVersion`); ``None`` = newest.
    """

    layout: SlotLayout
    mode: XipMode = XipMode.OVERWRITE_ONLY
    image: bytes | None = None
    trailer_version: str | None = None


@dataclass(frozen=True)
class OutputFile:
    """One file an engine produced.

    :param name: file name (``bee_cfg.bin``) or, for ``nxpimage`` exports, an absolute path.
    :param data: the bytes.
    :param description: one line for humans.
    :param address: where the bytes go in flash, if they go anywhere.
    """

    name: str
    data: bytes
    description: str
    address: int | None = None


@dataclass(frozen=True)
class XipResult:
    """An engine's answer: files to write, facts to print, notes the user must read.

    :param files: outputs, in the order they should be listed.
    :param facts: ``(label, value)`` pairs (region bounds, argument words ...).
    :param notes: warnings that belong beside the output: UNVERIFIED facts, what the
        device makes itself.
    """

    files: tuple[OutputFile, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inspection:
    """The verdict on a block dumped from a device.

    :param kind: what the bytes were read as (``"bee_cfg"``, ``"IPCB"``).
    :param valid: the bootloader would accept it.
    :param fields: decoded ``(name, value)`` pairs.
    :param problems: one line per reason it is not valid.
    """

    kind: str
    valid: bool
    fields: tuple[tuple[str, str], ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngineInfo:
    """Where a registered engine came from (for ``mcuseal xip engines``)."""

    name: str
    engine: type[EncryptionEngine]
    plugin: str
    distribution: str
    version: str
    builtin: bool = field(default=False)


class EncryptionEngine(abc.ABC):
    """Base class of every encryption engine.

    Subclasses set :attr:`name`, :attr:`description` and :attr:`caps` and implement
    :meth:`build`.  Methods added to this class later get a default body, so existing
    plugins keep working.
    """

    #: Short lowercase identifier: ``bee``, ``iped``, ``npx``.
    name: ClassVar[str]
    #: One line for ``mcuseal xip engines``.
    description: ClassVar[str]
    #: What the engine can make on the host.
    caps: ClassVar[EngineCaps]
    #: SoC families the engine applies to (informational, lowercase).
    families: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def add_arguments(cls, group: argparse._ArgumentGroup) -> None:
        """Add this engine's options to *group* (the only argparse-aware engine code)."""
        _ = group  # engines without options add nothing

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> EncryptionEngine:
        """Build the engine from the options :meth:`add_arguments` added."""
        return cls()

    @abc.abstractmethod
    def build(self, request: XipRequest) -> XipResult:
        """Build everything the host can make for *request*.

        :raises mcuseal.errors.EngineUnsupported: the request needs something only the
            device can make.
        :raises mcuseal.errors.UsageError: the layout or options do not fit the engine.
        """

    def inspect(self, dump: bytes, *, key: bytes | None = None) -> Inspection:
        """Check a configuration block dumped from a device.

        :param dump: the bytes, from the start of the metadata sector (or the block alone).
        :param key: the key that decrypts it, if the block is encrypted.
        :raises mcuseal.errors.DumpFormatError: the bytes are not this engine's block.
        """
        raise EngineUnsupported(f"engine {self.name!r} has no dump parser")

    def export_nxpimage(self, config_path: Path, overrides: Mapping[str, object]) -> XipResult:
        """Do what ``nxpimage <engine> export -c CONFIG`` does, returning the files.

        File names in the result are absolute paths, chosen exactly as ``nxpimage``
        chooses them.  Input files named in the configuration are read here.

        :param config_path: the SPSDK YAML configuration.
        :param overrides: values ``nxpimage`` takes on its command line instead.
        """
        raise EngineUnsupported(f"engine {self.name!r} does not read nxpimage configurations")

    @classmethod
    def check_class(cls) -> None:
        """Raise ``ValueError`` if the class attributes break the contract."""
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(
                f"{cls.__qualname__}.name = {name!r}: must be 2-16 characters, lowercase "
                "letters, digits or '_', starting with a letter"
            )
        if not isinstance(getattr(cls, "description", None), str) or not cls.description:
            raise ValueError(f"{cls.__qualname__}.description must be a non-empty string")
        if not isinstance(getattr(cls, "caps", None), EngineCaps):
            raise ValueError(f"{cls.__qualname__}.caps must be an EngineCaps instance")
        if getattr(cls, "__abstractmethods__", None):
            missing = ", ".join(sorted(cls.__abstractmethods__))
            raise ValueError(f"{cls.__qualname__} does not implement {missing}")
