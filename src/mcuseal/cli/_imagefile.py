"""Reading and writing image files for the image commands (``.hex`` by extension)."""

from __future__ import annotations

from pathlib import Path

from mcuseal.errors import ImageFormatError, InputError, UsageError

# Refuse files that cannot be an image for any MCU slot before reading them into memory.
MAX_IMAGE_FILE_SIZE = 1024 * 1024 * 1024


def is_hex(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".hex"


def read_input(path: str | Path, what: str = "image") -> bytes:
    """Read a ``.bin`` file, or the contiguous data of a ``.hex`` file.

    :raises ImageFormatError: the file is empty or malformed Intel HEX: no image in it
    :raises InputError: missing, unreadable or huge
    """
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError(f"{what} {p} is a directory; pass a file")
        size = p.stat().st_size
        if size > MAX_IMAGE_FILE_SIZE:
            raise InputError(f"{what} {p} is {size} bytes, larger than any MCU slot")
        if is_hex(p):
            from mcuseal.image.hexfile import load_hex

            try:
                _, data = load_hex(p)
            except InputError as err:
                raise ImageFormatError(f"{what} {p}: {err}") from None
        else:
            data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {p} does not exist; check the path") from None
    except PermissionError:
        raise InputError(f"{what} {p} is not readable; check its permissions") from None
    except IsADirectoryError:
        raise InputError(f"{what} {p} is a directory; pass a file") from None
    if not data:
        raise ImageFormatError(f"{what} {p} is empty")
    return data


def check_output_path(path: str | Path, *, inputs: tuple[str | Path, ...] = ()) -> Path:
    """Validate an output path before any work is done.

    :raises UsageError: a directory, a missing parent directory, or one of the inputs
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"output {target} is a directory; give a file name")
    if not target.parent.exists():
        raise UsageError(f"output directory {target.parent} does not exist; create it first")
    for source in inputs:
        if Path(source).exists() and target.exists() and target.samefile(source):
            raise UsageError(f"output {target} is the input file; choose another name")
    return target
