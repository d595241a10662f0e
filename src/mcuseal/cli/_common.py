"""Argument helpers shared by the image and key commands."""

from __future__ import annotations

import argparse
import sys


def based_int(text: str) -> int:
    """``int(text, 0)`` with imgtool's message for an argparse ``type=``."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text} is not a valid integer. Please use code literals prefixed with "
            "0b/0B, 0o/0O, or 0x/0X as necessary."
        ) from None


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON document on stdout"
    )


def write_output(data: bytes, output: str | None, *, mode: int = 0o644) -> None:
    """Write *data* to *output* atomically, or to stdout when *output* is None or '-'."""
    if output in (None, "-"):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    from mcuseal._io import atomic_write
    from mcuseal.cli._imagefile import check_output_path

    atomic_write(check_output_path(output), data, mode)
