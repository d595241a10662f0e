"""A hand-written in-memory SMP transport and a minimal img_mgmt upload model.

Satisfies smpclient's ``SMPTransport`` protocol (as smpclient's own ``SMPMockTransport``
does) so protocol-level cases can be scripted precisely: lost frames, wrong sequence
numbers, v1/v2 errors, missing MCUmgr parameters.  End-to-end behaviour is tested
against the real virtual device (``mcuseal.dfu.sim``) instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2

from mcuseal.dfu import smpframe

Hook = Callable[[smpframe.SmpHeader, dict[str, Any], int], "str | None"]


@dataclass
class FakeDevice:
    """Zephyr-like answers for params, echo, image upload and state read.

    :param drop: called with (header, body, index of the upload frame); returning
        ``"request"`` loses the request, ``"response"`` loses the answer,
        ``"badseq"`` answers with a wrong sequence number.
    """

    buf_size: int = 2475
    buf_count: int = 6
    params: bool = True
    v1_errors: bool = False
    latency_s: float = 0.0
    drop: Hook | None = None
    upload_error: int | None = None
    slot: bytearray = field(default_factory=bytearray)
    expected: int = 0
    size: int = 0
    sha: bytes = b""
    upload_frames: int = 0
    frame_sizes: list[int] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, frame: bytes) -> tuple[bytes | None, str | None]:
        header, body = smpframe.decode_frame(frame)
        self.frame_sizes.append(len(frame))
        action = None
        if header.group == 1 and header.command == 1:
            action = self.drop(header, body, self.upload_frames) if self.drop else None
            self.upload_frames += 1
            if action == "request":
                return None, action
        if len(frame) > self.buf_size:
            return None, "oversize"  # Zephyr drops it silently
        answer = self._answer(header, body)
        if action == "badseq":
            header = smpframe.SmpHeader(
                header.op,
                header.version,
                0,
                0,
                header.group,
                (header.sequence + 1) % 256,
                header.command,
            )
        out = smpframe.encode_frame(header.response(0), answer)
        return (None if action == "response" else out), action

    def _error(self, group: int, rc: int) -> dict[str, Any]:
        if self.v1_errors:
            return {"rc": 3, "rsn": "bad things"}
        return {"err": {"group": group, "rc": rc}}

    def _answer(self, header: smpframe.SmpHeader, body: dict[str, Any]) -> dict[str, Any]:
        if (header.group, header.command) == (0, 6):
            if not self.params:
                return {"rc": 8}
            return {"buf_size": self.buf_size, "buf_count": self.buf_count}
        if (header.group, header.command) == (0, 0):
            return {"r": body["d"]}
        if (header.group, header.command) == (1, 0) and header.op == 0:
            return {"images": self.states}
        if (header.group, header.command) == (1, 1):
            return self._upload(body)
        return {"rc": 8}

    def _upload(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.upload_error is not None:
            return self._error(1, self.upload_error)
        off, data = body["off"], body["data"]
        if off == 0:
            if "len" not in body:
                return self._error(1, 21)
            if body.get("sha") and body["sha"] == self.sha and self.size == body["len"]:
                return {"off": self.expected}  # resume
            self.size, self.sha = body["len"], body.get("sha", b"")
            self.slot = bytearray(self.size)
            self.expected = 0
        if off != self.expected:
            return {"off": self.expected}
        if off + len(data) > self.size:
            return self._error(1, 31)
        self.slot[off : off + len(data)] = data
        self.expected += len(data)
        answer: dict[str, Any] = {"off": self.expected}
        if self.expected == self.size and self.sha:
            answer["match"] = hashlib.sha256(self.slot).digest() == self.sha
        return answer


class FakeTransport:
    """In-memory ``SMPTransport`` in front of a :class:`FakeDevice`."""

    _smp_server_transport_buffer_size: int | None = None

    def __init__(self, device: FakeDevice, mtu: int = 247) -> None:
        self.device = device
        self._mtu = mtu
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.in_flight = 0
        self.max_in_flight = 0
        self.connected = False
        self.log: list[str | None] = []

    async def connect(self, address: str, timeout_s: float) -> None:
        self.connected = True

    async def disconnect(self) -> None:
        self.connected = False

    async def send(self, data: bytes) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        answer, action = self.device.handle(data)
        self.log.append(action)
        if answer is None:
            self.in_flight -= 1
            return
        if self.device.latency_s:
            asyncio.get_running_loop().call_later(self.device.latency_s, self._deliver, answer)
        else:
            self._deliver(answer)

    def _deliver(self, answer: bytes) -> None:
        self.in_flight -= 1
        self._queue.put_nowait(answer)

    async def receive(self) -> bytes:
        return await self._queue.get()

    async def send_and_receive(self, data: bytes) -> bytes:
        await self.send(data)
        return await self.receive()

    def initialize(self, smp_server_transport_buffer_size: int) -> None:
        self._smp_server_transport_buffer_size = smp_server_transport_buffer_size

    @property
    def mtu(self) -> int:
        return self._mtu

    @property
    def max_unencoded_size(self) -> int:
        return self._smp_server_transport_buffer_size or self._mtu


def fake_image(body_size: int, *, version: tuple[int, int, int, int] = (1, 2, 3, 0)) -> bytes:
    """A structurally valid (unsigned) MCUboot image: header, body, SHA-256 TLV."""
    header = struct.pack("<IIHHIIBBHI4x", 0x96F3B83D, 0, 32, 0, body_size, 0, *version)
    body = bytes((i * 7 + 3) % 251 for i in range(body_size))
    digest = hashlib.sha256(header + body).digest()
    tlvs = struct.pack("<HH", 0x10, 32) + digest
    return header + body + struct.pack("<HH", 0x6907, 4 + len(tlvs)) + tlvs


def image_hash(image: bytes) -> bytes:
    return hashlib.sha256(image[: len(image) - 40]).digest()


def frame_body(frame: bytes) -> dict[str, Any]:
    return dict(cbor2.loads(frame[8:]))
