"""Intel HEX input and output, laid out as imgtool writes it.

imgtool does not fill a padded ``.hex``: it writes the image, then (with ``--confirm``/``--test``)
a ``max_align``-byte image_ok record and the boot magic at the end of the slot.
"""

from __future__ import annotations

import io
import os
from typing import IO

from intelhex import IntelHex, IntelHexError

from mcuseal.errors import InputError, UsageError
from mcuseal.image.sign import SignedImage


def load_hex(source: str | os.PathLike[str] | bytes) -> tuple[int, bytes]:
    """Read an Intel HEX file (a path, or its text as bytes).

    :returns: (lowest address, contiguous bytes with gaps filled with 0xff) as imgtool loads it.
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
        raise InputError("the Intel HEX input holds no data")
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


def _to_intelhex(image: SignedImage | bytes, base_addr: int) -> IntelHex:
    ih = IntelHex()
    if isinstance(image, SignedImage):
        ih.frombytes(image.image_bytes(), offset=base_addr)
        for offset, row in image.trailer_rows():
            ih.puts(base_addr + offset, row)
    else:
        ih.frombytes(image, offset=base_addr)
    return ih


def dump_hex(image: SignedImage | bytes, base_addr: int) -> str:
    """Intel HEX text of *image* at *base_addr* (a padded image gets imgtool's trailer rows)."""
    out = io.StringIO()
    write_hex(image, out, base_addr)
    return out.getvalue()


def write_hex(image: SignedImage | bytes, fileobj: IO[str], base_addr: int) -> None:
    """Write :func:`dump_hex` output to a text file object."""
    if base_addr < 0:
        raise UsageError(f"hex base address {base_addr:#x} is negative: pass -x/--hex-addr")
    _to_intelhex(image, base_addr).write_hex_file(fileobj)


__all__ = ["dump_hex", "load_hex", "output_base_addr", "write_hex"]
