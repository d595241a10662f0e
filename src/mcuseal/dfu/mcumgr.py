"""MCUmgr commands other than upload: parameters, image state, reset, erase, echo.

Each function takes an :class:`~mcuseal.dfu.session.SmpSession`, builds the request
with the ``smp`` message type, and returns a typed result.  Device answers that do not
have the documented shape raise :class:`~mcuseal.errors.DfuTransportError` with a
one-line message, never a pydantic traceback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from smp import image_management as smp_img
from smp import os_management as smp_os

from mcuseal.errors import DfuDeviceError, DfuTransportError

if TYPE_CHECKING:
    from mcuseal.dfu.session import SmpSession


#: reads are safe to repeat when an answer is lost (UDP drops datagrams)
READ_ATTEMPTS = 5


@dataclass(frozen=True)
class McumgrParams:
    """``MCUMgrParametersRead``: the device's SMP buffer size (header included) and count."""

    buf_size: int
    buf_count: int


@dataclass(frozen=True)
class SlotState:
    """One entry of the image-state list, as the device reports it.

    ``version`` is Zephyr's string: ``"x.y.z"``, or ``"x.y.z.build"`` with a build number.
    ``hash`` is the image's MCUboot hash TLV (not the SHA-256 of the file).
    """

    image: int
    slot: int
    version: str
    hash: bytes | None
    bootable: bool = False
    pending: bool = False
    confirmed: bool = False
    active: bool = False
    permanent: bool = False
    #: the device sent ``image`` (it does only with more than one updatable image)
    numbered: bool = field(default=True, compare=False)

    @property
    def flags(self) -> list[str]:
        return [
            name
            for name in ("bootable", "pending", "confirmed", "active", "permanent")
            if getattr(self, name)
        ]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["numbered"]
        out["hash"] = self.hash.hex() if self.hash is not None else None
        out["flags"] = self.flags
        return out


async def read_params(session: SmpSession) -> McumgrParams | None:
    """Read the MCUmgr parameters; ``None`` when the firmware does not report them."""
    try:
        body = await session.request(
            smp_os.MCUMgrParametersReadRequest(sequence=session.next_sequence()),
            "the MCUmgr parameters read",
            attempts=READ_ATTEMPTS,
        )
    except DfuDeviceError:
        return None  # CONFIG_MCUMGR_GRP_OS_MCUMGR_PARAMS=n: ENOTSUP
    size, count = body.get("buf_size"), body.get("buf_count")
    if not (isinstance(size, int) and isinstance(count, int) and size > 8 and count > 0):
        raise DfuTransportError(f"the device reported unusable MCUmgr parameters {body!r}")
    return McumgrParams(size, count)


def _parse_states(body: dict[str, Any]) -> list[SlotState]:
    images = body.get("images")
    if not isinstance(images, list):
        raise DfuTransportError("the device's image state has no 'images' list")
    out: list[SlotState] = []
    for entry in images:
        if not isinstance(entry, dict):
            raise DfuTransportError("the device's image state holds a non-map entry")
        image, slot, version = entry.get("image", 0), entry.get("slot"), entry.get("version")
        digest = entry.get("hash")
        if not (
            isinstance(image, int)
            and isinstance(slot, int)
            and isinstance(version, str)
            and (digest is None or isinstance(digest, bytes))
        ):
            raise DfuTransportError(f"malformed image-state entry from the device: {entry!r}")
        out.append(
            SlotState(
                image=image,
                slot=slot,
                version=version,
                hash=digest,
                numbered="image" in entry,
                **{
                    flag: entry.get(flag) is True
                    for flag in ("bootable", "pending", "confirmed", "active", "permanent")
                },
            )
        )
    return sorted(out, key=lambda s: (s.image, s.slot))


async def read_state(session: SmpSession) -> list[SlotState]:
    """Read the image-state list, sorted by image then slot."""
    body = await session.request(
        smp_img.ImageStatesReadRequest(sequence=session.next_sequence()),
        "the image-state read",
        attempts=READ_ATTEMPTS,
    )
    return _parse_states(body)


async def write_state(
    session: SmpSession, digest: bytes | None, *, confirm: bool
) -> list[SlotState]:
    """Mark *digest* for test (``confirm=False``) or confirm it (or the running image).

    A state write is not blindly repeated when its answer is lost (a second "test" of a
    pending image is refused): the state is read back to see whether it took effect.
    """
    what = "confirming the image" if confirm else "marking the image for test"
    for _ in range(READ_ATTEMPTS):
        try:
            body = await session.request(
                smp_img.ImageStatesWriteRequest(
                    hash=digest, confirm=confirm, sequence=session.next_sequence()
                ),
                what,
            )
            return _parse_states(body)
        except DfuTransportError:
            if not session.alive:
                raise
        state = await read_state(session)
        if _took_effect(state, digest, confirm):
            return state
    raise DfuTransportError(f"no answer from the device to {what}")


def _took_effect(state: list[SlotState], digest: bytes | None, confirm: bool) -> bool:
    for slot in state:
        if digest is None and confirm and slot.active and slot.confirmed:
            return True
        if digest is not None and slot.hash == digest:
            return (slot.permanent or slot.confirmed) if confirm else slot.pending
    return False


async def erase(session: SmpSession, slot: int | None = None, *, timeout_s: float = 40.0) -> None:
    """Erase a secondary slot (the device's default is slot 1); also ends an upload session."""
    await session.request(
        smp_img.ImageEraseRequest(slot=slot, sequence=session.next_sequence()),
        "the slot erase",
        timeout_s=timeout_s,
    )


async def reset(session: SmpSession, *, force: bool = False) -> None:
    """Ask the device to reboot (it answers first)."""
    await session.request(
        smp_os.ResetWriteRequest(force=1 if force else None, sequence=session.next_sequence()),
        "the reset",
    )


async def echo(session: SmpSession, text: str) -> str:
    """Echo *text* through the device's OS group."""
    body = await session.request(
        smp_os.EchoWriteRequest(d=text, sequence=session.next_sequence()),
        "the echo",
        attempts=READ_ATTEMPTS,
    )
    answer = body.get("r")
    if not isinstance(answer, str):
        raise DfuTransportError("the device's echo answer has no 'r' string")
    return answer
