"""Intel HEX input and output, laid out as imgtool writes it.

imgtool does not fill a padded ``.hex``: it writes the image, then (with ``--confirm``/``--test``)
a ``max_align``-byte image_ok record and the boot magic at the end of the slot.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from typing import IO

from intelhex import IntelHex, IntelHexError

from mcuseal.errors import InputError, UsageError
from mcuseal.image.sign import SignedImage


def load_hex(source: str | os.PathLike[str] | bytes) -> tuple[int | None, bytes]:
    """Read an Intel HEX file (a path, or its text as bytes).

    :returns: (lowest address, contiguous bytes with gaps filled with 0xff) as imgtool loads it;
        a file without data records gives ``(None, b"")``, as in imgtool (which then needs
        ``-x`` for a ``.hex`` output).
    :raises InputError: the file is missing or not valid Intel HEX.
    """
    ih = IntelHex()
    try:
        if isinstance(source, bytes):
            ih.loadhex(io.StringIO(source.decode("ascii")))
        else:
            ih.loadhex(os.fspath(source))
    except (OSError, UnicodeDecodeError, IntelHexError, ValueError) as exc:
        raise InputError(f"cannot read Intel HEX input: {exc}") from None
    base = ih.minaddr()
    if base is None:
        return None, b""
    return int(base), bytes(ih.tobinarray())


def output_base_addr(
    input_base: int | None, *, pad_header: bool, header_size: int, hex_addr: int | None
) -> int:
    """The address of the first output byte, as imgtool picks it.

    ``-x/--hex-addr`` wins; otherwise a ``.hex`` input's address, lowered by the header size with
    ``--pad-header`` (imgtool leaves a zero base address alone).
    """
    if hex_addr is not None:
        return hex_addr
    if input_base is None:
        raise UsageError("a .hex output needs an address: give .hex input or pass -x/--hex-addr")
    if pad_header and input_base:
        return input_base - header_size
    return input_base


_RECORD_BYTES = 16


def _record(kind: int, addr16: int, data: bytes) -> str:
    rec = bytes([len(data), addr16 >> 8, addr16 & 0xFF, kind]) + data
    return ":" + (rec + bytes([-sum(rec) & 0xFF])).hex().upper() + "\n"


Rows = Sequence[tuple[int, bytes]]


def _rows(image: SignedImage | bytes, rows: Rows) -> Rows:
    return rows if isinstance(image, (bytes, bytearray, memoryview)) else image.trailer_rows()


def _pieces(image: SignedImage | bytes, base_addr: int, rows: Rows) -> Iterator[tuple[int, bytes]]:
    if isinstance(image, (bytes, bytearray, memoryview)):
        yield base_addr, bytes(image)
    else:
        addr = base_addr
        for chunk in image.image_chunks():
            yield addr, bytes(chunk)
            addr += len(chunk)
    for offset, row in _rows(image, rows):
        yield base_addr + offset, row


def _last_addr(image: SignedImage | bytes, base_addr: int, rows: Rows) -> int:
    size = len(image) if isinstance(image, (bytes, bytearray, memoryview)) else image.image_size
    ends = [size] + [off + len(row) for off, row in _rows(image, rows)]
    return base_addr + max(ends) - 1


def iter_hex_lines(image: SignedImage | bytes, base_addr: int, rows: Rows = ()) -> Iterator[str]:
    """Intel HEX lines for *image*, streamed, exactly as ``IntelHex.write_hex_file`` lays them out.

    Records hold 16 bytes of a contiguous run and never cross a 64 KiB boundary; a type-04
    record precedes each 64 KiB segment when any address is above 0xffff.

    :param rows: for bytes, extra (offset, bytes) records (a padded image has its own).
    """
    if base_addr < 0:
        raise UsageError(f"hex base address {base_addr:#x} is negative: pass -x/--hex-addr")
    last = _last_addr(image, base_addr, rows)
    if last > 0xFFFFFFFF:
        raise UsageError(f"the image ends at {last:#x}, beyond Intel HEX's 32-bit address space")
    need_segments = last > 0xFFFF
    high: int | None = None
    run_addr = 0
    run = bytearray()

    def emit(keep_tail: bool) -> Iterator[str]:
        nonlocal run_addr, run, high
        pos = 0
        while len(run) - pos > (_RECORD_BYTES if keep_tail else 0):
            addr = run_addr + pos
            if need_segments and addr >> 16 != high:
                high = addr >> 16
                yield _record(4, 0, high.to_bytes(2, "big"))
            n = min(_RECORD_BYTES, 0x10000 - (addr & 0xFFFF), len(run) - pos)
            yield _record(0, addr & 0xFFFF, bytes(run[pos : pos + n]))
            pos += n
        run_addr += pos
        del run[:pos]

    for addr, data in _pieces(image, base_addr, rows):
        if not data:
            continue
        if run and addr != run_addr + len(run):
            yield from emit(keep_tail=False)
        if not run:
            run_addr = addr
        run += data
        yield from emit(keep_tail=True)
    yield from emit(keep_tail=False)
    yield ":00000001FF\n"


def dump_hex(image: SignedImage | bytes, base_addr: int, rows: Rows = ()) -> str:
    """Intel HEX text of *image* at *base_addr* (a padded image gets imgtool's trailer rows)."""
    return "".join(iter_hex_lines(image, base_addr, rows))


def write_hex(image: SignedImage | bytes, fileobj: IO[str], base_addr: int) -> None:
    """Stream :func:`dump_hex` output to a text file object."""
    for line in iter_hex_lines(image, base_addr):
        fileobj.write(line)


__all__ = ["dump_hex", "iter_hex_lines", "load_hex", "output_base_addr", "write_hex"]
