"""``mcuseal verify``: judge an image as the bootloader would, encrypted or not.

Exit codes: 0 the bootloader would accept the image; 1 it would reject it (including an image
that does not parse, and with ``--require-encrypted``/``--strict`` their conditions); 2 unusable
arguments or keys.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from mcuseal.cli._common import add_json, based_int
from mcuseal.cli._keyargs import add_key_options

if TYPE_CHECKING:
    from mcuseal.image.verify import VerifyReport

DESCRIPTION = (
    "Run the checks MCUboot's bootloader runs, in its order (header, TLV walk, key unwrap, "
    "hash over the decrypted payload, key hash, signature), print each, and say whether the "
    "payload is ENCRYPTED, CLEAR (flag and key TLV, plaintext payload) or NOT ENCRYPTED.  "
    "Exit 0: the bootloader would accept it; 1: it would reject it; 2: unusable arguments."
)

_log = logging.getLogger(__name__)

_STATEMENT = {
    "ENCRYPTED": "ENCRYPTED: the payload is ciphertext; only the device key can read it",
    "CLEAR": "CLEAR: encryption flag and key TLV present but the payload is plaintext "
    "(the --clear form for factory flashing of the primary slot)",
    "NOT ENCRYPTED": "NOT ENCRYPTED: the payload is plaintext and the image has no encryption",
    "UNKNOWN": "UNKNOWN: the encryption state could not be determined",
}


def configure(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("image", metavar="IMAGE", help="signed image (.bin or .hex)")
    add(
        "-k",
        "--key",
        action="append",
        default=[],
        metavar="SIGNING_KEY",
        help="a signature key the device trusts (private or public PEM/DER, or a pkcs11: "
        "URI); repeatable",
    )
    add(
        "-E",
        "--encrypt",
        metavar="DEVICE_KEY",
        help="the device's decryption key: private PEM/DER, or an AES-KW KEK (raw or base64)",
    )
    add("-S", "--slot-size", type=based_int, help="slot size: the image must fit it")
    add(
        "--slot",
        choices=("secondary", "primary"),
        default="secondary",
        help="judge as an update in the secondary slot (default, decrypted by the bootloader) "
        "or as an installed image in the primary slot (never decrypted)",
    )
    add(
        "--require-encrypted",
        action="store_true",
        help="fail (exit 1) unless the payload is ENCRYPTED",
    )
    add(
        "--strict",
        action="store_true",
        help="fail (exit 1) when the payload could not be checked (encrypted image, no -E)",
    )
    add_key_options(parser)
    add_json(parser)  # fmt: skip


_MARKS = {True: ("pass", "green"), False: ("FAIL", "red"), None: ("not checked", "yellow")}


def _mark(ok: bool | None) -> str:
    label, colour = _MARKS[ok]
    return f"[{colour}]{label:<11}[/{colour}]"


def run(args: argparse.Namespace) -> int:
    from mcuseal.cli import _keyargs, _output
    from mcuseal.cli._imagefile import read_input
    from mcuseal.errors import ImageFormatError
    from mcuseal.image.verify import Check, EncryptionState, VerifyReport, verify_image
    from mcuseal.keys import dev_key_name, load_device_key

    trusted = [_keyargs.load_public_key(ref, args) for ref in args.key]
    dev_keys = []
    for ref, key in zip(args.key, trusted, strict=True):
        name = dev_key_name(key)
        if name is not None:
            dev_keys.append(name)
            _log.warning(
                "-k %s is the published %s: images it signs protect nothing",
                _keyargs.describe(ref),
                name,
            )
    device_key = load_device_key(args.encrypt, prompt=True) if args.encrypt else None
    if not args.key:
        _log.warning("no -k given: judged as a hash-only bootloader would (no signature check)")
    try:
        data = read_input(args.image)
    except ImageFormatError as err:
        # An empty file or broken Intel HEX holds no image: rejected (1), like bad magic.
        report = VerifyReport(
            (Check("header", False, str(err)),), EncryptionState.UNKNOWN, False, args.slot
        )
    else:
        report = verify_image(
            data,
            trusted_keys=trusted,
            device_key=device_key,
            slot=args.slot,
            slot_size=args.slot_size,
            require_encrypted=args.require_encrypted,
        )
    strict_failed = args.strict and not report.payload_checked
    accepted = report.accepted and not strict_failed
    result: dict[str, Any] = {"image": args.image, **report.to_json()}
    result["accepted"] = accepted
    result["dev_keys"] = dev_keys
    if strict_failed:
        result["strict_failure"] = "the payload was not checked (--strict)"
    if args.json:
        _output.print_json(result)
    else:
        _print_human(args, report, accepted, strict_failed)
    return 0 if accepted else 1


def _print_human(
    args: argparse.Namespace, report: VerifyReport, accepted: bool, strict_failed: bool
) -> None:
    from rich.markup import escape

    from mcuseal.cli import _output

    out = _output.stdout()
    out.print(f"[bold]{escape(args.image)}[/bold] (judged in the {report.slot} slot)")
    width = max((len(c.name) for c in report.checks), default=4)
    for check in report.checks:
        out.print(f"  {_mark(check.ok)} {check.name:<{width}}  {escape(check.detail)}")
    out.print(f"  payload: {_STATEMENT[report.encryption.value]}")
    if not report.payload_checked:
        out.print("  [yellow]the payload was not checked against its hash[/yellow]")
    if strict_failed:
        out.print("  [red]--strict: an unchecked payload fails[/red]")
    verdict = "[green]ACCEPTED[/green]" if accepted else "[red]REJECTED[/red]"
    out.print(f"{verdict}: the bootloader would {'accept' if accepted else 'reject'} this image")
