"""The DFU flow behind ``mcuseal dfu upload``.

1. Read the image state; skip images whose hash the device already holds.
2. Upload each remaining image (image 0 app core, image 1 nRF5340 net core).
3. Read the state again and check the hash the device lists for the new image against
   the file.  Nothing is marked unless they match.
4. Depending on the mode: mark for test (or confirm), reset, wait, reconnect, confirm
   the running image, and check the final state: the device must run the new images.

Modes follow nRF Connect Device Manager: ``test-and-confirm`` (default), ``confirm-only``
(marked permanent before the reset), ``test-only`` (runs once; reverts on the next reset
unless the application confirms itself) and ``upload-only``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from mcuseal.dfu import mcumgr
from mcuseal.dfu.events import Event, EventSink, ignore
from mcuseal.dfu.link import DeviceLink
from mcuseal.dfu.package import DfuImage
from mcuseal.dfu.upload import UploadOptions, UploadResult, upload
from mcuseal.errors import DfuRejected, DfuTransportError

_log = logging.getLogger(__name__)


#: resets sent while the device still lists the new image as pending (lost resets)
RESET_ATTEMPTS = 3


class Mode(enum.Enum):
    """What to do after the upload."""

    TEST_AND_CONFIRM = "test-and-confirm"
    CONFIRM_ONLY = "confirm-only"
    TEST_ONLY = "test-only"
    UPLOAD_ONLY = "upload-only"


@dataclass(frozen=True)
class FlowOptions:
    """Options of the flow beyond the upload's.

    :param mode: see :class:`Mode`.
    :param swap_wait_s: pause after the reset before reconnecting.  Zephyr answers the
        reset request first and reboots ``CONFIG_MCUMGR_GRP_OS_RESET_MS`` (250 ms) later,
        and over UDP nothing else shows the reboot, so this must exceed that delay.
    :param reconnect_timeout_s: how long to keep trying to reconnect after the reset.
    """

    mode: Mode = Mode.TEST_AND_CONFIRM
    upload: UploadOptions = field(default_factory=UploadOptions)
    swap_wait_s: float = 1.0
    reconnect_timeout_s: float = 60.0


@dataclass
class DfuReport:
    """The outcome of :func:`run_dfu`, also the ``--json`` summary."""

    mode: str
    uploaded: dict[int, UploadResult] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    marked: list[int] = field(default_factory=list)
    reset: bool = False
    final_state: list[mcumgr.SlotState] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "uploaded": {
                str(i): {
                    "size": r.size,
                    "elapsed_s": round(r.elapsed_s, 3),
                    "rate_kBps": round(r.rate_bps / 1000, 1),
                    "resumes": r.resumes,
                    "retries": r.retries,
                    "resyncs": r.resyncs,
                }
                for i, r in self.uploaded.items()
            },
            "skipped": {str(i): why for i, why in self.skipped.items()},
            "marked": self.marked,
            "reset": self.reset,
            "images": [s.to_json() for s in self.final_state],
        }


def _slot(state: list[mcumgr.SlotState], image: int, slot: int) -> mcumgr.SlotState | None:
    return next((s for s in state if s.image == image and s.slot == slot), None)


async def run_dfu(
    link: DeviceLink,
    images: list[DfuImage],
    options: FlowOptions | None = None,
    *,
    on_event: EventSink = ignore,
) -> DfuReport:
    """Run a whole DFU of *images* over an open *link*.

    :raises DfuRejected: the device refused an image, lists a different hash than the
        file's after the upload, or does not run the new image after the reset.
    :raises DfuTransportError: the link failed beyond what resuming could repair.
    """
    options = options or FlowOptions()
    report = DfuReport(mode=options.mode.value)
    state = await mcumgr.read_state(link.session)
    on_event(Event("state", {"images": [s.to_json() for s in state]}))

    numbered = [img.image for img in images if img.image > 0]
    if numbered and state and not any(s.numbered for s in state):
        raise DfuRejected(
            f"the device manages a single image (its state list has no image numbers) but "
            f"{images[-1].name} is image {numbered[0]}; update that core with a device built "
            "for it (CONFIG_MCUMGR_GRP_IMG_UPDATABLE_IMAGE_NUMBER=2, NCS: "
            "SB_CONFIG_MCUBOOT_NRF53_MULTI_IMAGE_UPDATE=y) or upload image 0 alone"
        )
    todo: list[DfuImage] = []
    for img in images:
        running = _slot(state, img.image, 0)
        staged = _slot(state, img.image, 1)
        if running is not None and running.hash == img.hash:
            report.skipped[img.image] = "already running"
            on_event(Event("skip", {"image": img.image, "reason": "already running"}))
            continue
        if staged is not None and staged.hash == img.hash:
            report.skipped[img.image] = "already in the secondary slot"
            on_event(Event("skip", {"image": img.image, "reason": "already uploaded"}))
        else:
            report.uploaded[img.image] = await upload(
                link, img.data, image=img.image, options=options.upload, on_event=on_event
            )
        todo.append(img)

    if not todo:
        needs_confirm = options.mode in (Mode.TEST_AND_CONFIRM, Mode.CONFIRM_ONLY) and any(
            not s.confirmed for s in state if s.slot == 0 and s.active
        )
        if needs_confirm:
            await mcumgr.write_state(link.session, None, confirm=True)
        report.final_state = await mcumgr.read_state(link.session)
        on_event(Event("done", {"changed": needs_confirm}))
        return report

    # Never mark what the device did not store byte for byte: compare its listed hash.
    state = await mcumgr.read_state(link.session)
    for img in todo:
        staged = _slot(state, img.image, 1)
        if staged is None or staged.hash != img.hash:
            listed = staged.hash.hex() if staged is not None and staged.hash else "nothing"
            raise DfuRejected(
                f"after the upload the device lists {listed} for image {img.image} slot 1, "
                f"but {img.name} has hash {img.hash.hex()}; not marking it. The device dropped "
                "or rejected the image (check its signing/encryption keys and slot size)"
            )

    if options.mode is Mode.UPLOAD_ONLY:
        report.final_state = state
        on_event(Event("done", {"changed": True}))
        return report

    permanent = options.mode is Mode.CONFIRM_ONLY
    confirm_after_reset = options.mode is Mode.TEST_AND_CONFIRM
    for img in todo:
        staged = _slot(state, img.image, 1)
        if staged is not None and staged.pending:
            # A slot-padded image (imgtool --pad [--confirm]) brings its own trailer: it is
            # pending once stored, and Zephyr refuses to mark it again (IMAGE_ALREADY_PENDING).
            if staged.permanent and options.mode is Mode.TEST_ONLY:
                _log.warning(
                    "%s carries a confirmed trailer (imgtool --pad --confirm): it installs "
                    "permanently, not for test",
                    img.name,
                )
            confirm_after_reset |= permanent and not staged.permanent
            on_event(
                Event(
                    "mark",
                    {
                        "image": img.image,
                        "hash": img.hash.hex(),
                        "permanent": staged.permanent,
                        "by": "trailer",
                    },
                )
            )
            continue
        await mcumgr.write_state(link.session, img.hash, confirm=permanent)
        report.marked.append(img.image)
        on_event(
            Event("mark", {"image": img.image, "hash": img.hash.hex(), "permanent": permanent})
        )

    state = []
    for _ in range(RESET_ATTEMPTS):
        await _reset_and_reconnect(link, options, on_event)
        report.reset = True
        state = await mcumgr.read_state(link.session)
        # Still pending and not running: the reset request (or its reboot) got lost.
        if not any(
            (staged := _slot(state, img.image, 1)) is not None
            and staged.hash == img.hash
            and staged.pending
            for img in todo
        ):
            break
        _log.info("the device still lists the image as pending: resetting again")
    if confirm_after_reset:
        running_new = all(
            (s := _slot(state, img.image, 0)) is not None and s.hash == img.hash for img in todo
        )
        if running_new and any(not s.confirmed for s in state if s.slot == 0 and s.active):
            state = await mcumgr.write_state(link.session, None, confirm=True)
            on_event(Event("confirm", {}))
    report.final_state = state
    on_event(Event("state", {"images": [s.to_json() for s in state]}))

    for img in todo:
        running = _slot(state, img.image, 0)
        if running is None or running.hash != img.hash:
            raise DfuRejected(
                f"after the reset the device does not run image {img.image} from {img.name} "
                f"(version {img.version}): the bootloader rejected or reverted it (check that "
                "the device's MCUboot has the matching signing and encryption keys)"
            )
        if options.mode is not Mode.TEST_ONLY and not running.confirmed:
            raise DfuRejected(
                f"image {img.image} runs but is not confirmed: it would revert on the next reset"
            )
    on_event(Event("done", {"changed": True}))
    return report


async def _reset_and_reconnect(link: DeviceLink, options: FlowOptions, on_event: EventSink) -> None:
    on_event(Event("reset", {}))
    try:
        await mcumgr.reset(link.session)
    except DfuTransportError as err:
        # A device may reboot before its answer gets out; the reconnect tells.
        _log.info("no answer to the reset (%s); reconnecting anyway", err)
    await link.close()
    await asyncio.sleep(options.swap_wait_s)
    deadline = time.monotonic() + options.reconnect_timeout_s
    while True:
        try:
            await link.open()
            break
        except DfuTransportError as err:
            await link.close()
            if time.monotonic() >= deadline:
                raise DfuTransportError(
                    f"the device did not come back within {options.reconnect_timeout_s:g} s "
                    f"after the reset ({err}); it may still be swapping: run 'mcuseal dfu list' "
                    "later to check"
                ) from None
            await asyncio.sleep(1.0)
    on_event(Event("reconnect", {}))
