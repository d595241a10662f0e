"""SMP response decoding and error naming, shared by every request mcuseal makes.

Requests are built with the ``smp`` package's message types; responses are decoded here
from the raw frame so one code path handles both error shapes a Zephyr device may send:

* SMP v1: ``{"rc": <MGMT_ERR>, "rsn"?: str}``
* SMP v2: ``{"err": {"group": <group id>, "rc": <group error>}}``

A success is a map with neither (a legacy server may still add ``"rc": 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from smp import error as smp_error
from smp import header as smp_header
from smp import image_management as smp_img

from mcuseal.dfu import smpframe
from mcuseal.errors import DfuDeviceError, DfuImageTooLarge


class OsMgmtErr(IntEnum):
    """OS-group (0) error codes, as Zephyr's ``os_mgmt.h`` defines them (``smp`` lacks them)."""

    OK = 0
    UNKNOWN = 1
    INVALID_FORMAT = 2
    QUERY_YIELDS_NO_ANSWER = 3
    RTC_NOT_SET = 4
    RTC_COMMAND_FAILED = 5
    QUERY_RESPONSE_VALUE_NOT_VALID = 6


_GROUP_ERRORS: dict[int, type[IntEnum]] = {
    smp_header.GroupId.OS_MANAGEMENT: OsMgmtErr,
    smp_header.GroupId.IMAGE_MANAGEMENT: smp_img.IMG_MGMT_ERR,
}


def group_name(group: int) -> str:
    """Return the name of SMP group *group* (``IMAGE_MANAGEMENT``) or its number."""
    try:
        return smp_header.GroupId(group).name
    except ValueError:
        return f"group {group}"


def error_name(rc: int, group: int | None = None) -> str:
    """Name an SMP error: a v2 group error when *group* is given, else a v1 ``MGMT_ERR``."""
    table = smp_error.MGMT_ERR if group is None else _GROUP_ERRORS.get(group)
    try:
        if table is not None:
            return f"{table(rc).name} ({rc})"
    except ValueError:
        pass
    return f"rc {rc}"


@dataclass(frozen=True)
class Response:
    """A decoded SMP response frame.

    :param header: the 8-byte header.
    :param body: the CBOR map.
    """

    header: smpframe.SmpHeader
    body: dict[str, Any]

    @property
    def sequence(self) -> int:
        return self.header.sequence


def decode_response(frame: bytes) -> Response:
    """Decode one whole SMP response frame.

    :raises DfuTransportError: the frame is not an SMP response (garbled link).
    """
    header, body = smpframe.decode_frame(frame)
    return Response(header, body)


def check(response: Response, what: str) -> dict[str, Any]:
    """Return the body of *response*, or raise its SMP error with the error's name.

    :param what: what the request was for, for the message (``"image upload"``).
    :raises DfuDeviceError: the device answered with a v1 or v2 error.
    """
    body = response.body
    err = body.get("err")
    if isinstance(err, dict) and isinstance(err.get("rc"), int) and err["rc"] != 0:
        group = err.get("group")
        group = group if isinstance(group, int) else response.header.group
        too_large = (group, err["rc"]) == (1, smp_img.IMG_MGMT_ERR.INVALID_IMAGE_TOO_LARGE)
        raise (DfuImageTooLarge if too_large else DfuDeviceError)(
            f"device refused {what}: {group_name(group)} error {error_name(err['rc'], group)}"
            f"{_hint(group, err['rc'])}",
            group=group,
            rc=err["rc"],
        )
    rc = body.get("rc")
    if isinstance(rc, int) and rc != 0:
        rsn = body.get("rsn")
        reason = f" ({rsn})" if isinstance(rsn, str) and rsn else ""
        raise DfuDeviceError(
            f"device refused {what}: {error_name(rc)}{reason}{_hint(None, rc)}", rc=rc
        )
    return body


_ERASE_HINT = "; reset the device or run 'mcuseal dfu erase'"
_HINTS: dict[tuple[int | None, int], str] = {
    (None, smp_error.MGMT_ERR.ENOTSUP): "; the firmware lacks this MCUmgr command (check Kconfig)",
    (None, smp_error.MGMT_ERR.EACCESSDENIED): "; the device requires pairing/authentication",
    (None, smp_error.MGMT_ERR.EBADSTATE): "; an image is already pending: reset or erase first",
    (
        1,
        smp_img.IMG_MGMT_ERR.IMAGE_ALREADY_PENDING,
    ): "; reset the device or run 'mcuseal dfu erase'",
    (1, smp_img.IMG_MGMT_ERR.NO_FREE_SLOT): "; reset the device or run 'mcuseal dfu erase'",
    (1, smp_img.IMG_MGMT_ERR.CURRENT_VERSION_IS_NEWER): "; the device runs a newer version",
    (1, smp_img.IMG_MGMT_ERR.HASH_NOT_FOUND): "; no slot holds an image with that hash",
    (1, smp_img.IMG_MGMT_ERR.INVALID_IMAGE_TOO_LARGE): "; the image is larger than the slot",
}


def _hint(group: int | None, rc: int) -> str:
    return _HINTS.get((group, rc), "")
