"""The bootloader side of the virtual device: image slots, trailer state, boot.

One :class:`ImagePair` per updatable image (image 0 = application core, image 1 = the
nRF5340 network core).  The trailer is modelled by its meaning, not its bytes:

* ``pending`` on the secondary slot: ``"test"`` or ``"permanent"`` (magic written by
  ``boot_request_upgrade``), or None;
* ``revert`` on the primary slot: a test swap happened and the image has not been
  confirmed (``copy_done`` set, ``image_ok`` unset), so the next boot swaps back.

:func:`boot` is what MCUboot does at reset.  With one image it is swap with revert
(``swap_type`` TEST/PERM/REVERT as bootutil computes it); with two images it is
overwrite-only, as NCS's simultaneous nRF5340 update runs.  Every candidate image is
validated through a :class:`BootCheck` before it may run, exactly where bootutil calls
``boot_validate_slot``; an invalid secondary image is erased.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from mcuseal.dfu.sim._imginfo import ERASED, SlotInfo, header_fields, read_info
from mcuseal.image.trailer import (
    BOOT_MAGIC_SIZE,
    DEFAULT_MAX_ALIGN,
    VALID_MAX_ALIGNS,
    boot_magic,
    image_ok_offset_from_end,
)

Pending = Literal["test", "permanent"]


class SwapType(enum.Enum):
    """bootutil's ``BOOT_SWAP_TYPE_*`` for one image."""

    NONE = "none"
    TEST = "test"
    PERM = "perm"
    REVERT = "revert"


class BootMode(enum.IntEnum):
    """MCUboot modes as the OS group's bootloader-info ``mode`` query reports them."""

    SWAP_USING_MOVE = 3
    OVERWRITE_ONLY = 2


@dataclass(frozen=True)
class BootVerdict:
    """What the bootloader concluded about one image.

    :param accepted: the image may run
    :param reason: one line naming the failed check, or what was checked
    :param runnable: the bytes that end up in the primary slot (the decrypted image
        for an encrypted upload); None when rejected
    """

    accepted: bool
    reason: str
    runnable: bytes | None = None


class BootCheck(Protocol):
    """The seam where MCUboot's image validation plugs in.

    ``check`` gets the bytes of a slot as stored (encrypted if it was uploaded
    encrypted) and answers as ``boot_validate_slot`` would.
    """

    def check(self, image: bytes, *, image_index: int, slot: int) -> BootVerdict:
        """Validate *image* for *image_index* found in *slot* (0 primary, 1 secondary)."""
        ...


@dataclass
class StoredImage:
    """A slot's content: the bytes as stored, and what runs when it is in primary."""

    stored: bytes
    runnable: bytes

    @property
    def info(self) -> SlotInfo | None:
        return read_info(self.stored)


@dataclass
class ImagePair:
    """Primary and secondary slot of one image, with the trailer state bootutil keeps."""

    index: int
    slot_size: int
    primary: StoredImage | None = None
    #: False while the slot size is the simulator's guess (no ``--slot-size``): the
    #: first image padded with its own trailer then sets it.
    slot_size_fixed: bool = True
    secondary: bytearray | None = None
    pending: Pending | None = None
    revert: bool = False
    #: A slot written through the upload command is only a candidate; what the
    #: bootloader installed keeps the original bytes so a revert can restore them.
    secondary_origin: StoredImage | None = None

    def secondary_bytes(self) -> bytes | None:
        return bytes(self.secondary) if self.secondary is not None else None

    def swap_type(self) -> SwapType:
        if self.pending == "test":
            return SwapType.TEST
        if self.pending == "permanent":
            return SwapType.PERM
        if self.revert:
            return SwapType.REVERT
        return SwapType.NONE

    def erase_secondary(self) -> None:
        self.secondary = None
        self.secondary_origin = None
        self.pending = None


@dataclass(frozen=True)
class BootEvent:
    """One thing the bootloader did at reset (for the event stream)."""

    kind: str
    image: int
    detail: dict[str, object] = field(default_factory=dict)


#: bootutil's ``BOOT_FLAG_SET``: the image_ok value that makes a pending image permanent.
BOOT_FLAG_SET = 0x01


def _trailer_max_align(magic: bytes) -> int | None:
    """The ``BOOT_MAX_ALIGN`` whose boot magic *magic* is, or None for no magic.

    Each MCUboot build knows only its own magic; the virtual device accepts every
    variant imgtool writes (8: the classic magic, 16 and 32: alignment-prefixed).
    """
    for max_align in (DEFAULT_MAX_ALIGN, *VALID_MAX_ALIGNS):
        if magic == boot_magic(max_align):
            return max_align
    return None


def slot_end_magic(data: bytes) -> bool:
    """True when *data* ends in a boot magic (an image padded with imgtool ``--pad``)."""
    return _trailer_max_align(data[-BOOT_MAGIC_SIZE:]) is not None


def read_pending(slot: bytes, slot_size: int) -> Pending | None:
    """The swap request a secondary slot's trailer carries, as ``boot_swap_type`` reads it.

    bootutil reads the trailer at the end of the slot, not of the image: only bytes
    that fill the slot put their magic there (imgtool ``--pad`` to this slot size).
    With a good magic, image_ok unset (erased) is a test swap and ``BOOT_FLAG_SET`` a
    permanent one; any other image_ok value is a bad flag and requests nothing.
    """
    if len(slot) != slot_size:
        return None
    max_align = _trailer_max_align(slot[-BOOT_MAGIC_SIZE:])
    if max_align is None:
        return None
    image_ok = slot[slot_size - image_ok_offset_from_end(max_align)]
    if image_ok == ERASED:
        return "test"
    if image_ok == BOOT_FLAG_SET:
        return "permanent"
    return None


#: ``PM_CPUNET_B0N_ADDRESS`` of the nRF5340 network core's b0n (NCS partition manager).
NRF5340_CPUNET_B0N_ADDRESS = 0x01008800


def _reset_vector(stored: bytes) -> int | None:
    fields = header_fields(stored)
    if fields is None:
        return None
    _magic, hdr_size, _size = fields
    word = stored[hdr_size + 4 : hdr_size + 8]
    return struct.unpack("<I", word)[0] if len(word) == 4 else None


def _info_detail(data: bytes | None) -> dict[str, object]:
    info = read_info(data)
    if info is None:
        return {}
    return {"version": info.version_str, "hash": info.hash.hex()}


def boot(
    pairs: list[ImagePair],
    check: BootCheck | None,
    *,
    netcore_b0n_addr: int | None = None,
    emit: Callable[[BootEvent], None] = lambda _e: None,
) -> bool:
    """Run MCUboot at reset over *pairs*; return True when an application boots.

    :param check: the image validator; None models a bootloader that has no keys the
        images can satisfy, so every update is rejected
    :param netcore_b0n_addr: enable NCS's reset-vector check on image 0 (one-image
        layout): an update whose word at ``ih_hdr_size + 4`` is above this address is
        handed to the network core instead of being swapped in
    """
    overwrite_only = len(pairs) > 1
    for pair in pairs:
        swap = pair.swap_type()
        if swap in (SwapType.TEST, SwapType.PERM) and pair.secondary is not None:
            _upgrade(pair, swap, check, overwrite_only, netcore_b0n_addr, emit)
        elif swap in (SwapType.TEST, SwapType.PERM):
            pair.pending = None
        elif swap is SwapType.REVERT and not overwrite_only:
            _revert(pair, check, emit)
    return _primary_bootable(pairs[0], check, emit)


def _validate(check: BootCheck | None, data: bytes, pair: ImagePair, slot: int) -> BootVerdict:
    if check is None:
        return BootVerdict(False, "no verification key configured on the device")
    return check.check(data, image_index=pair.index, slot=slot)


def _upgrade(
    pair: ImagePair,
    swap: SwapType,
    check: BootCheck | None,
    overwrite_only: bool,
    netcore_b0n_addr: int | None,
    emit: Callable[[BootEvent], None],
) -> None:
    assert pair.secondary is not None
    candidate = bytes(pair.secondary)
    verdict = _validate(check, candidate, pair, 1)
    emit(
        BootEvent(
            "verdict",
            pair.index,
            {"slot": 1, "accepted": verdict.accepted, "reason": verdict.reason}
            | _info_detail(candidate),
        )
    )
    if not verdict.accepted or verdict.runnable is None:
        # bootutil erases a secondary image that fails validation.
        pair.erase_secondary()
        emit(BootEvent("erase", pair.index, {"slot": 1, "reason": verdict.reason}))
        return
    if netcore_b0n_addr is not None and pair.index == 0 and not overwrite_only:
        vector = _reset_vector(candidate)
        if vector is not None and vector > netcore_b0n_addr:
            # NCS's boot_perform_update_hook reads the raw (possibly encrypted) word and
            # hands the image to the network core; only the secondary trailer is erased.
            pair.pending = None
            emit(
                BootEvent(
                    "netcore-route",
                    pair.index,
                    {"reset_vector": f"0x{vector:08x}", "b0n_addr": f"0x{netcore_b0n_addr:08x}"}
                    | _info_detail(candidate),
                )
            )
            return
    new = StoredImage(stored=candidate, runnable=verdict.runnable)
    if overwrite_only:
        pair.primary = new
        pair.erase_secondary()
        emit(BootEvent("overwrite", pair.index, _info_detail(candidate)))
        return
    old = pair.primary
    pair.primary = new
    pair.secondary = bytearray(old.stored) if old is not None else None
    pair.secondary_origin = old
    pair.pending = None
    pair.revert = swap is SwapType.TEST
    emit(BootEvent("swap", pair.index, {"type": swap.value} | _info_detail(candidate)))


def _revert(pair: ImagePair, check: BootCheck | None, emit: Callable[[BootEvent], None]) -> None:
    pair.revert = False
    old = pair.secondary_origin
    if old is None or pair.secondary is None:
        return
    verdict = _validate(check, bytes(pair.secondary), pair, 1)
    if not verdict.accepted:
        emit(
            BootEvent(
                "verdict", pair.index, {"slot": 1, "accepted": False, "reason": verdict.reason}
            )
        )
        return
    current = pair.primary
    pair.primary = old
    pair.secondary = bytearray(current.stored) if current is not None else None
    pair.secondary_origin = current
    emit(BootEvent("revert", pair.index, _info_detail(old.stored)))


def _primary_bootable(
    pair: ImagePair, check: BootCheck | None, emit: Callable[[BootEvent], None]
) -> bool:
    if pair.primary is None or check is None:
        # An empty primary slot means the running application is outside the model (the
        # device starts that way unless --primary preloads it); without a validator the
        # primary slot is trusted as flashed.
        return True
    verdict = _validate(check, pair.primary.runnable, pair, 0)
    if not verdict.accepted:
        emit(BootEvent("halt", pair.index, {"reason": f"primary slot: {verdict.reason}"}))
        return False
    emit(BootEvent("boot", pair.index, _info_detail(pair.primary.stored)))
    return True
