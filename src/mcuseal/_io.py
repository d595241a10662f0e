"""File output that never leaves a partial file behind."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from mcuseal.errors import InputError

# Errors of the file system under the output, raised by writes inside the block too.
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _cannot_write(target: Path, err: OSError) -> InputError:
    return InputError(
        f"cannot write {target}: {err.strerror or err}; choose a writable output path"
    )


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: int = 0o644) -> Iterator[BinaryIO]:
    """Open a temporary file beside *path*; rename it over *path* only if the block succeeds.

    A failure anywhere in the block (a bad key discovered half-way, Ctrl-C) removes the
    temporary file, so users never find a truncated image under the name they asked for.
    A file-system failure (no such directory, read-only, full disk) raises
    :class:`~mcuseal.errors.InputError` naming *path*.
    """
    target = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _cannot_write(target, err) from None
    try:
        with os.fdopen(fd, "wb") as tmp:
            try:
                yield tmp
            except OSError as err:
                if err.errno in _FULL:
                    raise _cannot_write(target, err) from None
                raise
            try:
                tmp.flush()
                os.fsync(tmp.fileno())
            except OSError as err:
                raise _cannot_write(target, err) from None
        try:
            os.chmod(tmp_name, mode)
            os.replace(tmp_name, target)
        except OSError as err:
            raise _cannot_write(target, err) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write(
    path: str | os.PathLike[str], data: bytes | Iterable[bytes], mode: int = 0o644
) -> None:
    """Write *data* (bytes or an iterable of chunks) to *path* atomically."""
    with atomic_writer(path, mode) as out:
        if isinstance(data, (bytes, bytearray, memoryview)):
            out.write(data)
        else:
            for chunk in data:
                out.write(chunk)
