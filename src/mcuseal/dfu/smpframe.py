"""SMP (MCUmgr) framing shared by the DFU client and the virtual device.

Pure and synchronous: bytes in, bytes out; no asyncio, no transport.  Both sides of
mcuseal's SMP stack use it:

* :data:`HEADER` / :class:`SmpHeader` -- the 8-byte big-endian header
  (``Res:3 | Ver:2 | OP:3``, flags, body length, group, sequence, command).
* :func:`encode_frame` / :func:`decode_frame` -- a whole frame: header plus a CBOR map.
* :func:`decode_body` -- the CBOR map of a frame body; anything that is not one map
  raises :class:`mcuseal.errors.DfuTransportError`.
* :class:`FrameAssembler` -- reassembly of a byte stream (BLE notifications, UDP
  datagrams) into frames by the header's length field: SMP over BLE adds no framing of
  its own, so a frame longer than ATT MTU - 3 arrives split, and two responses may
  arrive back to back in one read.

Every parser here either returns a value or raises ``DfuTransportError`` (a
:class:`mcuseal.errors.McusealError`), whatever bytes it is given.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

import cbor2

from mcuseal.errors import DfuTransportError

HEADER: Final = struct.Struct(">BBHHBB")
assert HEADER.size == 8
HEADER_SIZE: Final = HEADER.size

#: Largest body the 16-bit length field can describe.
MAX_BODY_SIZE: Final = 0xFFFF


class Op(IntEnum):
    """SMP operation codes (header byte 0, bits 0-2)."""

    READ = 0
    READ_RSP = 1
    WRITE = 2
    WRITE_RSP = 3


class Version(IntEnum):
    """SMP protocol versions (header byte 0, bits 3-4)."""

    V1 = 0  # legacy: errors as {"rc": MGMT_ERR}
    V2 = 1  # group errors as {"err": {"group", "rc"}}


class Group(IntEnum):
    """The management groups mcuseal speaks."""

    OS = 0
    IMAGE = 1


@dataclass(frozen=True)
class SmpHeader:
    """One SMP header.  ``op`` and ``version`` are the decoded fields of byte 0.

    :param op: 0 read, 1 read response, 2 write, 3 write response (any 3-bit value parses)
    :param version: 0 (SMP v1) or 1 (SMP v2); 2 and 3 are reserved but parse
    :param flags: header flags (none defined, 0)
    :param length: length of the CBOR body after the header
    :param group: management group id
    :param sequence: sequence number; a response echoes the request's
    :param command: command id within the group
    :param reserved: the three high bits of byte 0 (0 on the wire today)
    """

    op: int
    version: int
    flags: int
    length: int
    group: int
    sequence: int
    command: int
    reserved: int = 0

    def __post_init__(self) -> None:
        limits = (
            ("op", self.op, 0x7),
            ("version", self.version, 0x3),
            ("reserved", self.reserved, 0x7),
            ("flags", self.flags, 0xFF),
            ("length", self.length, MAX_BODY_SIZE),
            ("group", self.group, 0xFFFF),
            ("sequence", self.sequence, 0xFF),
            ("command", self.command, 0xFF),
        )
        for name, value, top in limits:
            if not 0 <= value <= top:
                raise DfuTransportError(f"SMP header field {name}={value} out of range 0..{top}")

    @classmethod
    def loads(cls, data: bytes) -> SmpHeader:
        """Parse the first 8 bytes of *data*.

        :raises DfuTransportError: fewer than 8 bytes.
        """
        if len(data) < HEADER_SIZE:
            raise DfuTransportError(f"truncated SMP frame: {len(data)} B, a header needs 8")
        b0, flags, length, group, sequence, command = HEADER.unpack_from(data)
        return cls(
            op=b0 & 0x7,
            version=(b0 >> 3) & 0x3,
            flags=flags,
            length=length,
            group=group,
            sequence=sequence,
            command=command,
            reserved=b0 >> 5,
        )

    def dumps(self) -> bytes:
        """Return the 8 header bytes."""
        b0 = (self.reserved << 5) | (self.version << 3) | self.op
        return HEADER.pack(b0, self.flags, self.length, self.group, self.sequence, self.command)

    @property
    def frame_size(self) -> int:
        """Header plus body: the bytes this frame occupies on the wire."""
        return HEADER_SIZE + self.length

    def response(self, length: int) -> SmpHeader:
        """The header of a response to this request carrying a *length*-byte body.

        Zephyr answers with the request's version capped at v2, its group, sequence and
        command, and op READ_RSP for a read, WRITE_RSP otherwise.
        """
        return SmpHeader(
            op=Op.READ_RSP if self.op == Op.READ else Op.WRITE_RSP,
            version=min(self.version, Version.V2),
            flags=0,
            length=length,
            group=self.group,
            sequence=self.sequence,
            command=self.command,
        )


def encode_body(body: Mapping[str, Any]) -> bytes:
    """CBOR-encode one response or request map."""
    return cbor2.dumps(dict(body))


def decode_body(data: bytes) -> dict[str, Any]:
    """Decode a frame body: exactly one CBOR map with text keys.

    :raises DfuTransportError: not CBOR, trailing bytes, not a map, or non-text keys.
    """
    try:
        value = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as err:
        raise DfuTransportError(f"SMP body is not valid CBOR: {err}") from None
    # Trailing bytes after the map are ignored, as zcbor's map decoder on the device does.
    if not isinstance(value, dict):
        raise DfuTransportError(f"SMP body is a CBOR {type(value).__name__}, not a map")
    if not all(isinstance(key, str) for key in value):
        raise DfuTransportError("SMP body map has non-text keys")
    return value


def encode_frame(header: SmpHeader, body: Mapping[str, Any]) -> bytes:
    """Return header plus CBOR body; the header's ``length`` is replaced by the body's.

    :raises DfuTransportError: the body does not fit the 16-bit length field.
    """
    payload = encode_body(body)
    if len(payload) > MAX_BODY_SIZE:
        raise DfuTransportError(f"SMP body of {len(payload)} B exceeds the 65535 B length field")
    fixed = SmpHeader(
        op=header.op,
        version=header.version,
        flags=header.flags,
        length=len(payload),
        group=header.group,
        sequence=header.sequence,
        command=header.command,
        reserved=header.reserved,
    )
    return fixed.dumps() + payload


def decode_frame(frame: bytes) -> tuple[SmpHeader, dict[str, Any]]:
    """Split one complete frame into its header and decoded body.

    :raises DfuTransportError: short frame, a length field that disagrees with the
        frame's size, or a body that is not one CBOR map.
    """
    header = SmpHeader.loads(frame)
    if len(frame) != header.frame_size:
        raise DfuTransportError(
            f"SMP frame is {len(frame)} B but its header announces {header.frame_size} B"
        )
    return header, decode_body(frame[HEADER_SIZE:])


class FrameAssembler:
    """Reassemble SMP frames from a byte stream by the header's length field.

    Feed it every chunk as it arrives (a BLE notification, a datagram); it yields each
    frame once complete.  Back-to-back frames in one chunk and frames split over many
    chunks both work.  ``max_frame_size`` bounds the buffer: a header announcing a
    larger frame raises instead of buffering up to 64 KiB of garbage.

    :param max_frame_size: largest acceptable frame, header included (default: the
        largest the length field allows)
    """

    def __init__(self, max_frame_size: int = HEADER_SIZE + MAX_BODY_SIZE) -> None:
        if max_frame_size < HEADER_SIZE:
            raise ValueError("max_frame_size must be at least 8")
        self._max = max_frame_size
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Drop any partial frame (after a disconnect)."""
        self._buf.clear()

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """Add *chunk* and yield every frame it completes, in order.

        :raises DfuTransportError: a header announces a frame over ``max_frame_size``;
            the partial data is dropped so the next chunk starts afresh.
        """
        self._buf += chunk
        while len(self._buf) >= HEADER_SIZE:
            header = SmpHeader.loads(bytes(self._buf[:HEADER_SIZE]))
            size = header.frame_size
            if size > self._max:
                self._buf.clear()
                raise DfuTransportError(
                    f"SMP frame of {size} B announced, larger than the {self._max} B limit"
                )
            if len(self._buf) < size:
                return
            frame = bytes(self._buf[:size])
            del self._buf[:size]
            yield frame


__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "MAX_BODY_SIZE",
    "FrameAssembler",
    "Group",
    "Op",
    "SmpHeader",
    "Version",
    "decode_body",
    "decode_frame",
    "encode_body",
    "encode_frame",
]
