"""The pipelined image-upload engine (SMP image group, command 1).

How it drives a Zephyr ``img_mgmt`` server:

* The first chunk goes alone with ``len``, ``sha`` (SHA-256 of the whole file) and
  ``image``.  The device answers with the offset it expects next: ``len(chunk)`` for a
  fresh upload, or further on when it resumes an earlier session with the same ``sha``.
* Then up to *window* chunks are in flight, window = min(``--window``, ``buf_count`` - 1)
  because the device's ``buf_count`` buffers hold requests *and* responses; without
  MCUmgr parameters the window is 1 (stop-and-wait).
* Responses are matched to requests by sequence number.  The device processes requests
  in order and answers each with the offset it expects next, so a response whose offset
  is not ``chunk.off + len(chunk)`` means a frame was lost (or the device is ahead): the
  engine resends from the device's offset, and answers to requests sent before that
  resync are only used to free window slots.
* A request with no answer in time is retried from the last offset the device confirmed,
  at most ``retries`` times per offset; then the engine reconnects and resumes by sending
  the first chunk with ``sha`` again (at most ``resumes`` times).  The same happens on a
  disconnect.
* Frames never exceed the link's frame limit (``buf_size``, and ``mtu - 28`` over UDP):
  the CBOR overhead is computed exactly for every chunk.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cbor2
from smp import image_management as smp_img

from mcuseal.dfu import protocol, smpframe
from mcuseal.dfu.events import Event, EventSink, ignore
from mcuseal.errors import DfuDeviceError, DfuRejected, DfuTransportError

if TYPE_CHECKING:
    from mcuseal.dfu.link import DeviceLink

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadOptions:
    """Tuning of one upload.

    :param window: the user's cap on requests in flight (``--window``).
    :param timeout_s: time to wait for each response.
    :param first_timeout_s: time to wait for the first response (Zephyr may erase the
        whole slot before it answers).
    :param retries: resends allowed per offset before the engine reconnects.
    :param resumes: reconnect-and-resume attempts before the upload fails.
    :param upgrade: ask the device to refuse an image that is not newer.
    """

    window: int = 8
    timeout_s: float = 2.5
    first_timeout_s: float = 40.0
    retries: int = 5
    resumes: int = 3
    upgrade: bool = False

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be at least 1")


@dataclass(frozen=True)
class UploadResult:
    """What one upload did.

    :param size: bytes of the image.
    :param sent_bytes: image bytes put on the wire (resends included).
    :param frames: upload requests sent.
    :param resyncs: times the device's offset disagreed with ours.
    :param retries: requests resent after a timeout.
    :param resumes: reconnects that resumed the upload.
    :param started_at: offset the device reported first (non-zero when resuming).
    :param window: requests kept in flight.
    :param frame_limit: largest frame sent, header included.
    :param elapsed_s: wall time.
    :param match: the device's ``match`` on the last chunk, if it sent one.
    """

    size: int
    sent_bytes: int
    frames: int
    resyncs: int
    retries: int
    resumes: int
    started_at: int
    window: int
    frame_limit: int
    elapsed_s: float
    match: bool | None = None

    @property
    def rate_bps(self) -> float:
        """Image bytes per second over the whole upload."""
        return (self.size - self.started_at) / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _cbor_head_size(n: int) -> int:
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5 if n < 1 << 32 else 9


def max_chunk_size(frame_limit: int, fields: dict[str, Any]) -> int:
    """Largest ``data`` length such that the request frame fits *frame_limit* bytes.

    :param fields: the request's other fields (``off``, and ``len``/``sha``/``image``
        on the first chunk); encoded exactly as ``smp`` encodes them (canonical CBOR).
    :returns: 0 when not even an empty chunk fits.
    """
    # The header's 16-bit length field bounds any frame.
    frame_limit = min(frame_limit, smpframe.HEADER_SIZE + smpframe.MAX_BODY_SIZE)
    # Size with an empty byte string, whose CBOR head is one byte; a data of n bytes
    # costs n plus its head instead.
    base = smpframe.HEADER_SIZE + len(cbor2.dumps({**fields, "data": b""}, canonical=True)) - 1
    room = frame_limit - base
    for head in (1, 2, 3, 5, 9):
        n = room - head
        if n >= 0 and _cbor_head_size(n) <= head:
            return n
    return 0


@dataclass
class _Chunk:
    off: int
    size: int
    sequence: int
    future: asyncio.Future[protocol.Response]
    deadline: float
    stale: bool = False


class _Restart(Exception):
    """The device forgot the upload (answered offset 0): start again with the first chunk."""


@dataclass
class _Stats:
    sent_bytes: int = 0
    frames: int = 0
    resyncs: int = 0
    retries: int = 0
    resumes: int = 0
    started_at: int | None = None
    match: bool | None = None
    per_offset: dict[int, int] = field(default_factory=dict)


class Uploader:
    """Upload one image over a :class:`~mcuseal.dfu.link.DeviceLink`.

    :param link: an open link (parameters already read).
    :param data: the whole image file.
    :param image: the image number (0 app core, 1 nRF5340 net core).
    :param options: tuning.
    :param on_event: receives ``upload-start``, ``progress``, ``resync``, ``retry``,
        ``resume`` and ``upload-done`` events.
    """

    def __init__(
        self,
        link: DeviceLink,
        data: bytes,
        *,
        image: int = 0,
        options: UploadOptions | None = None,
        on_event: EventSink = ignore,
    ) -> None:
        if not data:
            raise ValueError("nothing to upload")
        self.link = link
        self.data = data
        self.image = image
        self.options = options or UploadOptions()
        self.emit = on_event
        self.sha = hashlib.sha256(data).digest()
        self._stats = _Stats()

    @property
    def window(self) -> int:
        params = self.link.params
        if params is None:
            return 1
        window = max(1, min(self.options.window, params.buf_count - 1))
        if self.link.max_window is not None:
            window = min(window, self.link.max_window)
        return window

    async def run(self) -> UploadResult:
        """Upload, resuming after link failures; return what happened.

        :raises DfuDeviceError: the device refused the upload (a v1/v2 SMP error).
        :raises DfuRejected: the device reports the data does not match ``sha``.
        :raises DfuTransportError: the link failed and resuming did not help.
        """
        start = time.monotonic()
        self.emit(
            Event(
                "upload-start",
                {
                    "image": self.image,
                    "size": len(self.data),
                    "window": self.window,
                    "frame_size": self.link.frame_limit,
                    "sha256": self.sha.hex(),
                },
            )
        )
        stats = self._stats
        while True:
            try:
                await self._attempt()
                break
            except _Restart:
                continue
            except DfuTransportError as err:
                if stats.resumes >= self.options.resumes:
                    raise self._gave_up(f"failed after {stats.resumes} resume(s): {err}") from None
                stats.resumes += 1
                stats.per_offset.clear()
                self.emit(Event("resume", {"image": self.image, "reason": str(err)}))
                _log.info("resuming upload after: %s", err)
                try:
                    await self.link.reconnect()
                except DfuTransportError as again:
                    # The device is gone (each reconnect already tried several times):
                    # further resumes would only repeat the wait.
                    raise self._gave_up(
                        f"lost the device ({err}); reconnecting failed: {again}"
                    ) from None
        result = UploadResult(
            size=len(self.data),
            sent_bytes=stats.sent_bytes,
            frames=stats.frames,
            resyncs=stats.resyncs,
            retries=stats.retries,
            resumes=stats.resumes,
            started_at=stats.started_at or 0,
            window=self.window,
            frame_limit=self.link.frame_limit,
            elapsed_s=time.monotonic() - start,
            match=stats.match,
        )
        self.emit(
            Event(
                "upload-done",
                {
                    "image": self.image,
                    "size": result.size,
                    "elapsed_s": round(result.elapsed_s, 3),
                    "rate_kBps": round(result.rate_bps / 1000, 1),
                    "frames": result.frames,
                    "resyncs": result.resyncs,
                    "retries": result.retries,
                    "resumes": result.resumes,
                },
            )
        )
        return result

    # -- one connection's worth of uploading -------------------------------------------

    def _frame(self, sequence: int, off: int, first: bool) -> tuple[bytes, int]:
        fields: dict[str, Any] = {"off": off}
        if first:
            fields.update(image=self.image, len=len(self.data), sha=self.sha)
            if self.options.upgrade:
                fields["upgrade"] = True
        size = min(max_chunk_size(self.link.frame_limit, fields), len(self.data) - off)
        if size <= 0 or (first and size < 32 and size < len(self.data)):
            raise DfuTransportError(
                f"frames of {self.link.frame_limit} B cannot carry an upload chunk; the device's "
                "buffer (or --mtu) is too small"
            )
        message = smp_img.ImageUploadWriteRequest(
            sequence=sequence, data=self.data[off : off + size], **fields
        )
        frame = message.BYTES
        assert len(frame) <= self.link.frame_limit, (len(frame), self.link.frame_limit)
        return frame, size

    async def _send(self, off: int, first: bool, timeout_s: float) -> _Chunk:
        session = self.link.session
        sequence = session.next_sequence()
        frame, size = self._frame(sequence, off, first)
        future = await session.send(frame, sequence)
        self._stats.frames += 1
        self._stats.sent_bytes += size
        return _Chunk(off, size, sequence, future, time.monotonic() + timeout_s)

    def _count_retry(self, off: int, why: str) -> None:
        count = self._stats.per_offset.get(off, 0) + 1
        self._stats.per_offset[off] = count
        if count > self.options.retries:
            raise DfuTransportError(
                f"offset {off} of image {self.image} failed {count} times ({why})"
            )

    def _device_offset(self, response: protocol.Response) -> dict[str, Any]:
        body = protocol.check(response, f"the upload of image {self.image}")
        off = body.get("off")
        if not isinstance(off, int) or not 0 <= off <= len(self.data):
            raise DfuDeviceError(
                f"the device answered an upload chunk with an invalid offset {off!r} "
                f"(image is {len(self.data)} B)"
            )
        return body

    def _finish(self, body: dict[str, Any]) -> None:
        match = body.get("match")
        if isinstance(match, bool):
            self._stats.match = match
            if not match:
                raise DfuRejected(
                    f"the device reports image {self.image} does not match the SHA-256 of the "
                    "file after upload (corrupted transfer); run 'mcuseal dfu erase' and retry"
                )

    def _gave_up(self, why: str) -> DfuTransportError:
        return DfuTransportError(
            f"upload of image {self.image} {why}; run the same command again to resume "
            "(the device keeps a started upload until it resets)"
        )

    async def _first(self) -> int:
        """Send the first chunk alone until answered; return the device's offset."""
        while True:
            chunk = await self._send(0, True, self.options.first_timeout_s)
            try:
                response = await asyncio.wait_for(chunk.future, self.options.first_timeout_s)
            except asyncio.TimeoutError:
                self.link.session.abandon(chunk.sequence)
                self._stats.retries += 1
                self.emit(Event("retry", {"image": self.image, "offset": 0}))
                self._count_retry(0, "no answer to the first chunk")
                continue
            body = self._device_offset(response)
            off: int = body["off"]
            if off == 0:
                # Zephyr answers offset 0 only when it dropped the chunk's data; resend.
                self._count_retry(0, "the device did not accept the first chunk")
                continue
            if self._stats.started_at is None:
                self._stats.started_at = 0 if off == chunk.size else off
            if off != chunk.size:
                self.emit(Event("resync", {"image": self.image, "offset": off, "resumed": True}))
            self._progress(off)
            if off == len(self.data):
                self._finish(body)
            return off

    def _progress(self, off: int) -> None:
        self.emit(Event("progress", {"image": self.image, "offset": off, "size": len(self.data)}))

    async def _attempt(self) -> None:
        acked = await self._first()
        size = len(self.data)
        if acked == size:
            return
        session = self.link.session
        window = self.window
        inflight: OrderedDict[int, _Chunk] = OrderedDict()
        next_off = acked
        try:
            while acked < size:
                while next_off < size and len(inflight) < window:
                    chunk = await self._send(next_off, False, self.options.timeout_s)
                    inflight[chunk.sequence] = chunk
                    next_off += chunk.size
                if not inflight:  # everything sent was answered, but not to the end
                    next_off = acked
                    continue
                oldest = next(iter(inflight.values()))
                wait_s = max(0.0, oldest.deadline - time.monotonic())
                done, _ = await asyncio.wait(
                    [c.future for c in inflight.values()],
                    timeout=wait_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:
                    # Nothing back in time: the request or its answer was lost.  The
                    # device's state is unknown; resend from the last offset it confirmed
                    # and let its answer resync us.
                    self._stats.retries += 1
                    self.emit(Event("retry", {"image": self.image, "offset": acked}))
                    self._count_retry(acked, "no answer in time")
                    for c in inflight.values():
                        session.abandon(c.sequence)
                    inflight.clear()
                    next_off = acked
                    continue
                for seq in list(inflight):
                    chunk = inflight[seq]
                    if not chunk.future.done():
                        continue
                    # Answers come in request order, so unanswered requests sent before
                    # this one were lost; forget them.
                    for earlier in list(inflight):
                        if earlier == seq:
                            break
                        session.abandon(earlier)
                        del inflight[earlier]
                    del inflight[seq]
                    body = self._device_offset(chunk.future.result())
                    off: int = body["off"]
                    if off == 0:
                        # The device lost the session (it rebooted): begin again with
                        # the first chunk and its sha, as the SMP spec asks.
                        self._count_retry(0, "the device restarted the upload")
                        raise _Restart
                    acked = off
                    if not chunk.stale and off != chunk.off + chunk.size:
                        self._stats.resyncs += 1
                        self.emit(Event("resync", {"image": self.image, "offset": off}))
                        self._count_retry(off, "the device kept asking for it")
                        for later in inflight.values():
                            later.stale = True
                        next_off = off
                    self._progress(acked)
                    if acked == size:
                        self._finish(body)
                        break
        finally:
            for c in inflight.values():
                session.abandon(c.sequence)


async def upload(
    link: DeviceLink,
    data: bytes,
    *,
    image: int = 0,
    options: UploadOptions | None = None,
    on_event: EventSink = ignore,
) -> UploadResult:
    """Upload *data* as image *image*; see :class:`Uploader`."""
    return await Uploader(link, data, image=image, options=options, on_event=on_event).run()
