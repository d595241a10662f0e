"""The mcuseal error tree.

Every error a user can cause (bad input, a rejected image, a refusing device) is a
:class:`McusealError` subclass raised in the core.  Only the edges (``mcuseal.cli``,
``west_ext``) turn one into a message: ``str(err)`` is that one-line message and
``err.exit_code`` the process exit code.  Anything that is not a ``McusealError`` is a
bug and is allowed to propagate with its traceback.

Exit codes (documented in ``docs/reference/exit-codes.md``):

* 0 -- success
* 1 -- verification or preflight failed: the bootloader or device would reject it
* 2 -- usage error or bad input (files, keys, arguments, build directories)
* 3 -- device or transport failure
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_BAD_INPUT = 2
EXIT_DEVICE = 3


class McusealError(Exception):
    """Root of all errors mcuseal reports to users."""

    exit_code: int = EXIT_BAD_INPUT


class UsageError(McusealError):
    """Arguments that cannot be used together or are out of range."""


class NotSupportedError(UsageError):
    """An option mcuseal accepts for compatibility but does not implement (yet)."""


class InputError(McusealError):
    """An input file is missing, unreadable or malformed."""


class OutputWriteError(InputError):
    """An output file cannot be written (missing directory, read-only or full file system)."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}; choose a writable output path")
        self.path = path
        self.reason = reason


class ImageError(InputError):
    """An MCUboot image cannot be built from the given input and options."""


class ImageFormatError(ImageError):
    """Bytes that do not parse as an MCUboot image."""


class KeyError_(McusealError):  # trailing underscore: do not shadow builtins.KeyError
    """A key file or key reference is unusable, or the wrong kind of key for the job."""


class DevKeyError(KeyError_):
    """A published development key (MCUboot's samples, ours) used without ``--allow-dev-keys``."""


class TokenIOError(KeyError_):
    """The token holding a key (HSM, smart card, SoftHSM) failed or went away mid-operation."""

    exit_code = EXIT_DEVICE


class VerificationError(McusealError):
    """An image the bootloader would reject."""

    exit_code = EXIT_REJECTED


class UnwrapError(VerificationError):
    """A device key does not unwrap an image's ENC TLV (wrong key, scheme or AES size)."""


class BuildError(McusealError):
    """A build directory that cannot be read or planned."""


class PreflightError(McusealError):
    """A preflight check refused: the update would fail on the device."""

    exit_code = EXIT_REJECTED


class EngineError(McusealError):
    """An encryption engine cannot serve the request."""


class EngineNotFound(EngineError):
    """No engine of the requested name is registered."""


class EngineUnsupported(EngineError):
    """The engine cannot produce this on the host (e.g. the key never leaves the chip)."""


class DumpFormatError(InputError):
    """Bytes dumped from a device that do not parse as the expected XIP structure."""


class DfuError(McusealError):
    """A device-side or transport failure during DFU."""

    exit_code = EXIT_DEVICE


class DfuTransportError(DfuError):
    """The link to the device failed: not found, disconnected, timed out."""


class DfuRejected(DfuError):
    """The device refused or dropped the image."""

    exit_code = EXIT_REJECTED


class DfuDeviceError(DfuRejected):
    """The device answered a request with an SMP error (v1 ``rc`` or v2 ``err{group, rc}``)."""

    def __init__(self, message: str, *, group: int | None = None, rc: int = 0) -> None:
        super().__init__(message)
        self.group = group
        self.rc = rc


class DfuImageTooLarge(DfuDeviceError):
    """The device refused an image bigger than its slot: the input, not the device, is wrong."""

    exit_code = EXIT_BAD_INPUT


__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_DEVICE",
    "EXIT_OK",
    "EXIT_REJECTED",
    "BuildError",
    "DevKeyError",
    "DfuDeviceError",
    "DfuError",
    "DfuImageTooLarge",
    "DfuRejected",
    "DfuTransportError",
    "DumpFormatError",
    "EngineError",
    "EngineNotFound",
    "EngineUnsupported",
    "ImageError",
    "ImageFormatError",
    "InputError",
    "KeyError_",
    "McusealError",
    "NotSupportedError",
    "OutputWriteError",
    "PreflightError",
    "TokenIOError",
    "UnwrapError",
    "UsageError",
    "VerificationError",
]
