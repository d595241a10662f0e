"""The SMP server of the virtual device: Zephyr's OS and image management groups.

Synchronous and transport-free: :meth:`SmpServer.process` takes the content of one
received net_buf (one or more request frames back to back, as Zephyr's
``smp_process_request_packet`` accepts) and returns the response frames.  Behaviour
follows Zephyr's sources (``subsys/mgmt/mcumgr/smp/src/smp.c``,
``grp/img_mgmt/src/img_mgmt.c``, ``zephyr_img_mgmt.c``, ``img_mgmt_state.c``,
``grp/os_mgmt/src/os_mgmt.c``) with the default Kconfig of a swap-mode MCUboot
application plus ``CONFIG_IMG_ENABLE_IMAGE_CHECK`` (the ``match`` reply) and
``CONFIG_MCUMGR_GRP_OS_MCUMGR_PARAMS``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smp.error import MGMT_ERR
from smp.image_management import IMG_MGMT_ERR

from mcuseal.dfu.sim._imginfo import header_fields, read_info
from mcuseal.dfu.sim._mcuboot import BootMode, ImagePair, SwapType, read_pending, slot_end_magic
from mcuseal.dfu.smpframe import (
    HEADER_SIZE,
    Group,
    Op,
    SmpHeader,
    Version,
    decode_body,
    encode_frame,
)
from mcuseal.errors import DfuTransportError
from mcuseal.image.structs import IMAGE_MAGIC

OS_ECHO = 0
OS_RESET = 5
OS_PARAMS = 6
OS_BOOTLOADER_INFO = 8
IMG_STATE = 0
IMG_UPLOAD = 1
IMG_ERASE = 5

OS_MGMT_ERR_QUERY_YIELDS_NO_ANSWER = 3

# Zephyr's os_mgmt_translate_error_code (v1 clients).
_OS_V1: dict[int, int] = {
    2: MGMT_ERR.EINVAL,  # INVALID_FORMAT
    OS_MGMT_ERR_QUERY_YIELDS_NO_ANSWER: MGMT_ERR.ENOENT,
    4: MGMT_ERR.ENOENT,  # RTC_NOT_SET
}

# Zephyr's img_mgmt_translate_error_code: what a v1 (legacy) client sees instead of
# {"err": {"group": 1, "rc": ...}}.
_IMG_V1: dict[int, int] = {
    IMG_MGMT_ERR.NO_IMAGE: MGMT_ERR.ENOENT,
    IMG_MGMT_ERR.NO_TLVS: MGMT_ERR.ENOENT,
    IMG_MGMT_ERR.NO_FREE_SLOT: MGMT_ERR.EBADSTATE,
    IMG_MGMT_ERR.CURRENT_VERSION_IS_NEWER: MGMT_ERR.EBADSTATE,
    IMG_MGMT_ERR.IMAGE_ALREADY_PENDING: MGMT_ERR.EBADSTATE,
    IMG_MGMT_ERR.NO_FREE_MEMORY: MGMT_ERR.ENOMEM,
    IMG_MGMT_ERR.INVALID_SLOT: MGMT_ERR.EINVAL,
    IMG_MGMT_ERR.INVALID_PAGE_OFFSET: MGMT_ERR.EINVAL,
    IMG_MGMT_ERR.INVALID_OFFSET: MGMT_ERR.EINVAL,
    IMG_MGMT_ERR.INVALID_LENGTH: MGMT_ERR.EINVAL,
    IMG_MGMT_ERR.INVALID_IMAGE_HEADER: MGMT_ERR.EINVAL,
    IMG_MGMT_ERR.INVALID_HASH: MGMT_ERR.EINVAL,
    IMG_MGMT_ERR.INVALID_FLASH_ADDRESS: MGMT_ERR.EINVAL,
}


class _MgmtError(Exception):
    """A handler failed with a plain MCUmgr error: the reply is ``{"rc": rc}``."""

    def __init__(self, rc: int) -> None:
        super().__init__(rc)
        self.rc = rc


class _GroupError(Exception):
    """A handler failed with a group error: v2 ``{"err": ...}``, v1 translated ``rc``."""

    def __init__(self, group: int, rc: int) -> None:
        super().__init__(group, rc)
        self.group = group
        self.rc = rc


@dataclass
class UploadState:
    """``g_img_mgmt_state``: the upload in progress (RAM, lost at reset)."""

    target: tuple[int, int] | None = None  # (image pair index, slot); None = area_id -1
    off: int = 0
    size: int = 0
    sha: bytes = b""


@dataclass
class ServerEffects:
    """Side effects of one processed packet the device must act on."""

    responses: list[bytes] = field(default_factory=list)
    reset: bool = False
    erased_bytes: int = 0
    written: int = 0


def _uint(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 0 or value > 0xFFFFFFFF:
        raise _MgmtError(MGMT_ERR.EINVAL)
    return value


def _bstr(body: dict[str, Any], key: str) -> bytes | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise _MgmtError(MGMT_ERR.EINVAL)
    return value


def _bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _MgmtError(MGMT_ERR.EINVAL)
    return value


class SmpServer:
    """Zephyr's SMP request processing over the device's image pairs.

    :param pairs: the image pairs (1: swap with revert; 2: overwrite-only, image 1 = net core)
    :param buf_size: ``CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE`` reported by MCUmgr params
    :param buf_count: ``CONFIG_MCUMGR_TRANSPORT_NETBUF_COUNT`` reported by MCUmgr params
    :param emit: receives ``(kind, detail)`` events (uploads, state changes)
    """

    def __init__(
        self,
        pairs: list[ImagePair],
        *,
        buf_size: int,
        buf_count: int,
        emit: Callable[[str, dict[str, Any]], None] = lambda _k, _d: None,
    ) -> None:
        self.pairs = pairs
        self.buf_size = buf_size
        self.buf_count = buf_count
        self.upload = UploadState()
        self.emit = emit

    # -- framing ---------------------------------------------------------------------

    def process(self, packet: bytes) -> ServerEffects:
        """Process one received net_buf; return the responses and side effects."""
        effects = ServerEffects()
        rest = packet
        while rest:
            if len(rest) < HEADER_SIZE:
                return effects  # no valid header: Zephyr drops the buffer silently
            try:
                header = SmpHeader.loads(rest)
            except DfuTransportError:
                return effects
            body_bytes = rest[HEADER_SIZE : HEADER_SIZE + header.length]
            if len(body_bytes) < header.length:
                self._error(effects, header, MGMT_ERR.ECORRUPT)
                return effects
            if header.op not in (Op.READ, Op.WRITE):
                self._error(effects, header, MGMT_ERR.ENOTSUP)
                return effects
            if header.version > Version.V2:
                self._error(effects, header, MGMT_ERR.UNSUPPORTED_TOO_NEW)
                return effects
            try:
                body = self._decode(body_bytes)
                reply = self._dispatch(header, body, effects)
            except _MgmtError as err:
                self._error(effects, header, err.rc)
                return effects
            except _GroupError as err:
                if header.version == Version.V1:
                    table = _IMG_V1 if err.group == Group.IMAGE else _OS_V1
                    self._error(effects, header, table.get(err.rc, MGMT_ERR.EUNKNOWN))
                    return effects
                reply = {"err": {"group": err.group, "rc": err.rc}}
            effects.responses.append(encode_frame(header.response(0), reply))
            rest = rest[HEADER_SIZE + header.length :]
        return effects

    @staticmethod
    def _decode(body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        try:
            return decode_body(body)
        except DfuTransportError:
            raise _MgmtError(MGMT_ERR.EINVAL) from None

    @staticmethod
    def _error(effects: ServerEffects, header: SmpHeader, rc: int) -> None:
        effects.responses.append(encode_frame(header.response(0), {"rc": int(rc)}))

    def _dispatch(
        self, header: SmpHeader, body: dict[str, Any], effects: ServerEffects
    ) -> dict[str, Any]:
        write = header.op == Op.WRITE
        key = (header.group, header.command)
        if key == (Group.OS, OS_ECHO):
            return self._echo(body)
        if key == (Group.OS, OS_RESET) and write:
            effects.reset = True
            return {}
        if key == (Group.OS, OS_PARAMS) and not write:
            return {"buf_size": self.buf_size, "buf_count": self.buf_count}
        if key == (Group.OS, OS_BOOTLOADER_INFO) and not write:
            return self._bootloader_info(body)
        if key == (Group.IMAGE, IMG_STATE):
            return self._state_write(body) if write else self._state_read()
        if key == (Group.IMAGE, IMG_UPLOAD) and write:
            return self._upload(body, effects)
        if key == (Group.IMAGE, IMG_ERASE) and write:
            return self._erase(body, effects)
        raise _MgmtError(MGMT_ERR.ENOTSUP)

    # -- OS group --------------------------------------------------------------------

    @staticmethod
    def _echo(body: dict[str, Any]) -> dict[str, Any]:
        text = body.get("d")
        if not isinstance(text, str):
            raise _MgmtError(MGMT_ERR.EINVAL)
        return {"r": text}

    def _bootloader_info(self, body: dict[str, Any]) -> dict[str, Any]:
        query = body.get("query")
        if query is not None and not isinstance(query, str):
            raise _MgmtError(MGMT_ERR.EINVAL)
        if query is None:
            return {"bootloader": "MCUboot"}
        if query == "mode":
            mode = BootMode.OVERWRITE_ONLY if len(self.pairs) > 1 else BootMode.SWAP_USING_MOVE
            return {"mode": int(mode)}
        raise _GroupError(Group.OS, OS_MGMT_ERR_QUERY_YIELDS_NO_ANSWER)

    # -- image group: state ------------------------------------------------------------

    def _slot_bytes(self, slot: int) -> bytes | None:
        pair = self.pairs[slot // 2]
        if slot % 2 == 0:
            return pair.primary.stored if pair.primary is not None else None
        return pair.secondary_bytes()

    def _next_boot(self, pair: ImagePair) -> tuple[int, SwapType]:
        swap = pair.swap_type()
        return (0 if swap is SwapType.NONE else 1), swap

    def _state_read(self) -> dict[str, Any]:
        images: list[dict[str, Any]] = []
        for pair in self.pairs:
            next_slot, swap = self._next_boot(pair)
            for slot in (0, 1):
                info = read_info(self._slot_bytes(pair.index * 2 + slot))
                if info is None:
                    continue
                active = slot == 0
                confirmed = pending = permanent = False
                if active:
                    confirmed = swap is not SwapType.REVERT
                elif next_slot == 1:
                    if swap is SwapType.PERM:
                        pending = permanent = True
                    elif swap is SwapType.REVERT:
                        confirmed = True
                    elif swap is SwapType.TEST:
                        pending = True
                entry: dict[str, Any] = {}
                if len(self.pairs) > 1:
                    entry["image"] = pair.index
                entry |= {
                    "slot": slot,
                    "version": info.version_str,
                    "hash": info.hash,
                    "bootable": info.bootable,
                    "pending": pending,
                    "confirmed": confirmed,
                    "active": active,
                    "permanent": permanent,
                }
                images.append(entry)
        return {"images": images, "splitStatus": 0}

    def _find_by_hash(self, wanted: bytes) -> int | None:
        for slot in range(2 * len(self.pairs)):
            info = read_info(self._slot_bytes(slot))
            if info is not None and info.hash == wanted:
                return slot
        return None

    def _state_write(self, body: dict[str, Any]) -> dict[str, Any]:
        confirm = bool(_bool(body, "confirm"))
        wanted = _bstr(body, "hash") or b""
        if not wanted:
            if not confirm:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.INVALID_HASH)
            slot = 0  # the active slot of the active image (image 0, app core)
        elif len(wanted) != 32:
            raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.INVALID_HASH)
        else:
            found = self._find_by_hash(wanted)
            if found is None:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.HASH_NOT_FOUND)
            slot = found
        self._set_next_boot_slot(slot, confirm)
        return self._state_read()

    def _set_next_boot_slot(self, slot: int, confirm: bool) -> None:
        image = slot // 2
        pair = self.pairs[image]
        active_slot = image * 2
        next_rel, swap = self._next_boot(pair)
        next_slot = image * 2 + next_rel
        if confirm and image != 0:
            # Zephyr refuses to confirm an image that is not the running one.
            raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.IMAGE_CONFIRMATION_DENIED)
        if not confirm and slot == active_slot:
            raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.IMAGE_SETTING_TEST_TO_ACTIVE_DENIED)
        if swap is SwapType.TEST:
            if not confirm and slot == next_slot:
                return
            raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.IMAGE_ALREADY_PENDING)
        if swap in (SwapType.NONE, SwapType.PERM):
            if confirm and slot == next_slot:
                return
            if (slot == active_slot and active_slot != next_slot) or (
                not confirm and slot != active_slot and slot == next_slot
            ):
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.IMAGE_ALREADY_PENDING)
        if swap is SwapType.REVERT:
            if confirm and slot == next_slot:
                return
            if not confirm:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.IMAGE_ALREADY_PENDING)
        if slot == active_slot:
            pair.revert = False  # boot_write_img_confirmed: image_ok on the primary
            self.emit("confirm", {"image": image})
        else:
            pair.pending = "permanent" if confirm else "test"
            self.emit("pending", {"image": image, "permanent": confirm})

    def _slot_in_use(self, pair: ImagePair, slot: int) -> bool:
        next_rel, swap = self._next_boot(pair)
        if slot == next_rel and swap is SwapType.REVERT:
            return True
        if (slot == next_rel and swap is SwapType.TEST) or (
            next_rel != 0 and swap is SwapType.PERM
        ):
            return True
        return slot == 0

    # -- image group: upload and erase -------------------------------------------------

    def _unused_slot(self, image: int) -> tuple[int, int] | None:
        if len(self.pairs) == 1:
            # One updatable image: the requested image number is ignored.
            return None if self._slot_in_use(self.pairs[0], 1) else (0, 1)
        if image == 0:
            return None if self._slot_in_use(self.pairs[0], 1) else (0, 1)
        if image == 1:
            return (1, 1)
        return None

    def _upload(self, body: dict[str, Any], effects: ServerEffects) -> dict[str, Any]:
        image = _uint(body, "image") or 0
        data = _bstr(body, "data") or b""
        size = _uint(body, "len")
        off = _uint(body, "off")
        sha = _bstr(body, "sha") or b""
        upgrade = bool(_bool(body, "upgrade"))
        try:
            return self._upload_inspect_and_write(image, data, size, off, sha, upgrade, effects)
        except _GroupError:
            # Any failed upload request forgets the session (img_mgmt_reset_upload).
            self.upload = UploadState()
            raise

    def _upload_inspect_and_write(
        self,
        image: int,
        data: bytes,
        size: int | None,
        off: int | None,
        sha: bytes,
        upgrade: bool,
        effects: ServerEffects,
    ) -> dict[str, Any]:
        state = self.upload
        if off is None:
            raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.INVALID_OFFSET)
        if off == 0:
            fields = header_fields(data)
            if fields is None:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.INVALID_IMAGE_HEADER)
            if size is None:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.INVALID_LENGTH)
            if fields[0] != IMAGE_MAGIC:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.INVALID_IMAGE_HEADER_MAGIC)
            if len(sha) > 32:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.INVALID_HASH)
            if sha and state.target is not None and state.sha == sha:
                self.emit("upload-resume", {"off": state.off, "len": state.size})
                return {"off": state.off}
            target = self._unused_slot(image)
            if target is None:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.NO_FREE_SLOT)
            pair = self.pairs[target[0]]
            if size > pair.slot_size:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.INVALID_IMAGE_TOO_LARGE)
            if upgrade:
                self._check_upgrade(data)
            self.upload = state = UploadState(target=target, off=0, size=size, sha=sha)
            self.emit("upload-start", {"image": target[0], "len": size, "sha": sha.hex()})
            if len(sha) == 32 and pair.secondary is not None:
                stored = bytes(pair.secondary[:size])
                if len(stored) == size and hashlib.sha256(stored).digest() == sha:
                    self.upload = UploadState()
                    self.emit("upload-done", {"image": target[0], "match": True})
                    return {"off": size, "match": True}
            # Without CONFIG_IMG_ERASE_PROGRESSIVELY the slot is erased up front.
            effects.erased_bytes = pair.slot_size
            pair.erase_secondary()
            pair.secondary = bytearray()
        else:
            if state.target is None or off != state.off:
                return {"off": state.off}
            if off + len(data) > state.size:
                raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.INVALID_IMAGE_DATA_OVERRUN)
        assert state.target is not None
        pair = self.pairs[state.target[0]]
        if not data:
            return {"off": state.off}
        if pair.secondary is None:
            pair.secondary = bytearray()
        last = state.off + len(data) == state.size
        pair.secondary[state.off : state.off + len(data)] = data
        state.off += len(data)
        effects.written = len(data)
        if not last:
            return {"off": state.off}
        match = hashlib.sha256(bytes(pair.secondary[: state.size])).digest() == state.sha
        self.emit("upload-done", {"image": state.target[0], "match": match})
        self.upload = UploadState()
        self._read_uploaded_trailer(pair)
        return {"off": state.off, "match": match}

    def _read_uploaded_trailer(self, pair: ImagePair) -> None:
        # An image padded to the slot (imgtool --pad) brings its own trailer: the
        # bootloader and img_mgmt's state read see it as a pending swap with no state-write.
        assert pair.secondary is not None
        stored = bytes(pair.secondary)
        pending = read_pending(stored, pair.slot_size)
        if pending is None and not pair.slot_size_fixed and slot_end_magic(stored):
            # No configured slot size: the device takes the one the image was padded for.
            pair.slot_size, pair.slot_size_fixed = len(stored), True
            self.emit("slot-size", {"image": pair.index, "slot_size": len(stored)})
            pending = read_pending(stored, pair.slot_size)
        if pending is not None:
            pair.pending = pending
            self.emit("pending", {"image": pair.index, "permanent": pending == "permanent"})
        elif slot_end_magic(stored):
            # Padded for another slot size: its magic is not at the end of this slot.
            self.emit(
                "trailer-ignored",
                {"image": pair.index, "padded_size": len(stored), "slot_size": pair.slot_size},
            )

    def _check_upgrade(self, data: bytes) -> None:
        running = self.pairs[0].primary
        info = read_info(running.stored) if running is not None else None
        if info is None:
            raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.VERSION_GET_FAILED)
        new = data[20:24]
        new_version = (new[0], new[1], int.from_bytes(new[2:4], "little"))
        if info.version[:3] >= new_version:
            raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.CURRENT_VERSION_IS_NEWER)

    def _erase(self, body: dict[str, Any], effects: ServerEffects) -> dict[str, Any]:
        slot = _uint(body, "slot")
        slot = 1 if slot is None else slot
        if slot >= 2 * len(self.pairs):
            raise _MgmtError(MGMT_ERR.EUNKNOWN)
        pair = self.pairs[slot // 2]
        rel = slot % 2
        if read_info(self._slot_bytes(slot)) is not None and self._slot_in_use(pair, rel):
            raise _GroupError(Group.IMAGE, IMG_MGMT_ERR.NO_FREE_SLOT)
        if rel == 1:
            pair.erase_secondary()
        else:
            pair.primary = None
        effects.erased_bytes = pair.slot_size
        self.upload = UploadState()
        self.emit("erase", {"image": pair.index, "slot": rel})
        return {}
