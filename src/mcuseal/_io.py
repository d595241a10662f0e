"""File output that never leaves a partial file behind."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from mcuseal.errors import OutputWriteError

# Errors of the file system under the output.
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _cannot_write(target: Path, err: OSError) -> OutputWriteError:
    return OutputWriteError(target, err.strerror or str(err))


class _TargetFile(io.FileIO):
    """The temporary file, reporting a full or read-only file system under the final name.

    The relabelling happens here, at the write, rather than around the ``with`` block: with
    several writers open at once (all-or-none outputs), an error escaping the block may come
    from another writer's file.
    """

    def __init__(self, fd: int, target: Path) -> None:
        super().__init__(fd, "wb")
        self.target = target

    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except OSError as err:
            if err.errno in _FULL:
                raise _cannot_write(self.target, err) from None
            raise


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: int = 0o644) -> Iterator[BinaryIO]:
    """Open a temporary file beside *path*; rename it over *path* only if the block succeeds.

    A failure anywhere in the block (a bad key discovered half-way, Ctrl-C) removes the
    temporary file, so users never find a truncated image under the name they asked for.
    A file-system failure (no such directory, read-only, full disk) raises
    :class:`~mcuseal.errors.OutputWriteError` naming *path*.
    """
    target = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _cannot_write(target, err) from None
    try:
        with io.BufferedWriter(_TargetFile(fd, target)) as tmp:
            yield tmp
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
