"""``mcuseal key``: audits of keys (files, ``pkcs11:`` URIs, plugin keys).

``mcuseal key fingerprint KEY`` prints what MCUboot's KEYHASH TLV holds for images signed
with KEY (the hash of the public key bytes, with the image's hash algorithm), so an
auditor can match a bootloader, an image and a key without seeing any secret.
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

from mcuseal.cli._common import add_json
from mcuseal.cli._keyargs import add_key_options
from mcuseal.errors import UsageError

DESCRIPTION = "Audit keys: print what MCUboot's KEYHASH will contain for a signing key."


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="key_command", metavar="SUBCOMMAND", required=True)
    fp = sub.add_parser(
        "fingerprint",
        help="print the KEYHASH MCUboot compares for a key (file or pkcs11: URI)",
        description=(
            "Print the hash of a key's public bytes (DER SubjectPublicKeyInfo, PKCS#1 for "
            "RSA) as the image's KEYHASH TLV carries it, and its SHA-256 fingerprint.  "
            "Encryption keys and KEKs get the fingerprint only (images carry no hash of them)."
        ),
    )
    fp.add_argument("key", metavar="KEY", help="key file (PEM/DER/KEK) or pkcs11: URI")
    fp.add_argument(
        "--sha",
        choices=("auto", "256", "384", "512"),
        default="auto",
        help="image hash of the images to match (default auto: as 'mcuseal sign' picks it; "
        "512 for Ed25519 images signed with --sha 512 or --pure)",
    )
    add_key_options(fp)
    add_json(fp)


def run(args: argparse.Namespace) -> int:
    return _fingerprint(args)


def fingerprint_report(key: object, sha: str = "auto") -> dict[str, Any]:
    """What ``key fingerprint`` reports for a public key object or KEK bytes.

    :raises UsageError: a ``--sha`` the key's signature scheme does not allow
    """
    from mcuseal.image.crypto import KeyKind
    from mcuseal.keys import classify
    from mcuseal.keys.devkeys import DEV_KEY_FINGERPRINTS, key_id_bytes

    key_type = classify(key)
    raw = key_id_bytes(key)
    fingerprint = hashlib.sha256(raw).hexdigest()
    report: dict[str, Any] = {
        "type": key_type.value,
        "fingerprint_sha256": fingerprint,
        "keyhash": None,
        "dev_key": DEV_KEY_FINGERPRINTS.get(fingerprint),
    }
    if key_type.can_sign:
        allowed = KeyKind(key_type.value).allowed_sha
        bits = allowed[0] if sha == "auto" else int(sha)
        if bits not in allowed:
            names = "/".join(str(a) for a in allowed)
            raise UsageError(
                f"{key_type.value} images are hashed with SHA-{names}, not SHA-{bits}: "
                f"use --sha {allowed[0]}"
            )
        report["keyhash"] = {"sha": bits, "value": hashlib.new(f"sha{bits}", raw).hexdigest()}
    elif sha != "auto":
        raise UsageError(f"--sha applies to signing keys; {key_type.value} keys have no KEYHASH")
    return report


def _fingerprint(args: argparse.Namespace) -> int:
    from mcuseal.cli import _keyargs, _output

    key = _keyargs.load_encryption_key(args.key, args)
    report = {"key": _keyargs.describe(args.key), **fingerprint_report(key, args.sha)}
    if args.json:
        _output.print_json(report)
        return 0
    _output.line(f"{report['key']}: {report['type']}")
    if report["keyhash"] is not None:
        bits = report["keyhash"]["sha"]
        _output.line(f"  KEYHASH (SHA-{bits}, as images carry it): {report['keyhash']['value']}")
    else:
        _output.line("  KEYHASH: none (images carry no hash of encryption keys)")
    _output.line(f"  fingerprint (SHA-256): {report['fingerprint_sha256']}")
    if report["dev_key"] is not None:
        _output.line(f"  WARNING: this is the published {report['dev_key']}: it protects nothing")
    return 0
