"""``mcuseal keygen``, ``getpub``, ``getpubhash``, ``getpriv``: imgtool's key commands.

Same options and the same output bytes as imgtool 2.5.0, so build scripts switch tools
without touching anything else.  Passwords come from ``MCUSEAL_KEY_PASSWORD`` or a prompt,
never from the command line.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import re
import sys

from mcuseal.cli._common import add_json, write_output
from mcuseal.cli._keyargs import add_key_options
from mcuseal.errors import KeyError_, UsageError

_log = logging.getLogger(__name__)

_KEY_TYPES = (
    "ecdsa-p256",
    "ecdsa-p384",
    "ed25519",
    "x25519",
    "rsa-2048",
    "rsa-3072",
    "aes-kw-128",
    "aes-kw-256",
)


def _name_suffix(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]*", value):
        raise argparse.ArgumentTypeError(
            f"{value!r} must contain only [A-Za-z0-9_]; it is appended to a C/Rust identifier"
        )
    return value


def _add_key(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("-k", "--key", metavar="filename", required=True, help=help_text)


# -- keygen -------------------------------------------------------------------------------


def configure_keygen(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Generate a private key (PKCS#8 PEM, mode 0600) or an AES-KW key-encryption key "
        "(base64 text, the format MCUboot documents for enc-aes*kw.b64)."
    )
    parser.add_argument(
        "-t", "--type", required=True, choices=_KEY_TYPES, metavar="type",
        help="one of: " + ", ".join(_KEY_TYPES),
    )  # fmt: skip
    _add_key(parser, "file to write; an existing file is never overwritten")
    parser.add_argument(
        "-p",
        "--password",
        action="store_true",
        help="protect the key with a password (from $MCUSEAL_KEY_PASSWORD, else asked twice)",
    )
    add_json(parser)


def _new_password() -> bytes:
    from mcuseal.keys import PASSWORD_ENV

    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        if not env:
            raise UsageError(f"${PASSWORD_ENV} is empty; set a password or drop -p")
        return env.encode("utf-8")
    if sys.stdin is None or not sys.stdin.isatty():
        raise UsageError(f"-p needs a password: set ${PASSWORD_ENV} or run in a terminal")
    first = getpass.getpass("Enter key passphrase: ")
    if first != getpass.getpass("Reenter passphrase: "):
        raise UsageError("the passphrases do not match; run keygen again")
    if not first:
        raise UsageError("an empty passphrase protects nothing; drop -p or type one")
    return first.encode("utf-8")


def run_keygen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mcuseal.cli import _output
    from mcuseal.keys import KeyType, fingerprint, formats

    target = Path(args.key)
    if target.exists():
        raise UsageError(f"{target} already exists; keygen never overwrites a key, remove it first")
    key_type = KeyType(args.type)
    password = _new_password() if args.password else None
    if password is not None and key_type.is_kek:
        raise UsageError("-p/--password applies to PEM keys; a KEK file is plain base64")
    key = formats.generate(key_type)
    write_output(formats.private_key_file_bytes(key, password), str(target), mode=0o600)
    result = {
        "key": str(target),
        "type": key_type.value,
        "encrypted": password is not None,
        "fingerprint": fingerprint(key),
    }
    if args.json:
        _output.print_json(result)
    else:
        what = "KEK" if key_type.is_kek else "private key"
        _output.line(
            f"wrote {key_type.value} {what} to {target} (fingerprint {result['fingerprint']})"
        )
    return 0


# -- getpub / getpubhash ------------------------------------------------------------------


def configure_getpub(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print the public key of a key file as MCUboot embeds it: DER SubjectPublicKeyInfo "
        "(PKCS#1 for RSA) as raw bytes, a C or Rust array, or PEM."
    )
    _add_key(parser, "private or public PEM/DER key, or a pkcs11: URI")
    add_key_options(parser)
    parser.add_argument(
        "-e", "--encoding", choices=("lang-c", "lang-rust", "pem", "raw"), metavar="encoding",
        help="valid encodings: lang-c, lang-rust, pem, raw (default lang-c; pem for a "
        "pkcs11: URI)",
    )  # fmt: skip
    parser.add_argument(
        "-l", "--lang", choices=("c", "rust"), metavar="lang",
        help="deprecated spelling of -e lang-c / lang-rust (kept for imgtool scripts)",
    )  # fmt: skip
    parser.add_argument(
        "--name-suffix", default="", type=_name_suffix, metavar="SUFFIX",
        help="append SUFFIX to the C/Rust symbol names (lang-c / lang-rust only)",
    )  # fmt: skip
    parser.add_argument("-o", "--output", metavar="output", help="output file (default stdout)")


def run_getpub(args: argparse.Namespace) -> int:
    from mcuseal.cli import _keyargs
    from mcuseal.keys import formats
    from mcuseal.keys.pkcs11 import is_pkcs11_uri

    if args.encoding and args.lang:
        raise UsageError("use only one of -e/--encoding or -l/--lang")
    if args.encoding or args.lang or not is_pkcs11_uri(args.key):
        encoding = args.encoding or f"lang-{args.lang or 'c'}"
    else:
        # imgtool has no token keys to be compatible with; the PEM is what a bootloader
        # build (CONFIG_BOOT_SIGNATURE_KEY_FILE) and 'verify -k' take.
        encoding = "pem"
    key = _keyargs.load_public_key(args.key, args)
    _note_dev_key(key, _keyargs.describe(args.key))
    write_output(formats.getpub(key, encoding, args.name_suffix), args.output)
    return 0


def configure_getpubhash(parser: argparse.ArgumentParser) -> None:
    parser.description = "Print the SHA-256 of the public key (the image's KEYHASH TLV)."
    _add_key(parser, "private or public PEM/DER key, or a pkcs11: URI")
    add_key_options(parser)
    parser.add_argument(
        "-e", "--encoding", choices=("lang-c", "raw"), default="lang-c", metavar="encoding",
        help="valid encodings: lang-c, raw (default lang-c)",
    )  # fmt: skip
    parser.add_argument(
        "--name-suffix", default="", type=_name_suffix, metavar="SUFFIX",
        help="append SUFFIX to the C symbol names (lang-c only)",
    )  # fmt: skip
    parser.add_argument("-o", "--output", metavar="output", help="output file (default stdout)")


def run_getpubhash(args: argparse.Namespace) -> int:
    from mcuseal.cli import _keyargs
    from mcuseal.keys import formats

    key = _keyargs.load_public_key(args.key, args)
    _note_dev_key(key, _keyargs.describe(args.key))
    write_output(formats.getpubhash(key, args.encoding, args.name_suffix), args.output)
    return 0


# -- getpriv ------------------------------------------------------------------------------


def configure_getpriv(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print the device's decryption key as the C array MCUboot's keys.c takes "
        "(enc_priv_key[]).  EC: pkcs8 (default) or openssl; RSA: openssl; X25519: pkcs8."
    )
    _add_key(parser, "private PEM/DER key (x25519, ecdsa-p256 or rsa-2048 for encryption)")
    parser.add_argument(
        "-f", "--format", choices=("pkcs8", "openssl"), metavar="format",
        help="valid formats: openssl, pkcs8 (default per key type)",
    )  # fmt: skip
    parser.add_argument(
        "--minimal",
        action="store_true",
        help="drop the parts bootutil does not need (EC public key, RSA CRT parameters)",
    )
    parser.add_argument(
        "-o", "--output", metavar="output", help="output file, mode 0600 (default stdout)"
    )


def run_getpriv(args: argparse.Namespace) -> int:
    from mcuseal.keys import formats, load_key
    from mcuseal.keys.pkcs11 import is_pkcs11_uri

    if is_pkcs11_uri(args.key):
        raise KeyError_(
            "getpriv needs a key file: a key inside a PKCS#11 token cannot be exported, which "
            "is why it is there; use getpub for its public half"
        )
    key = load_key(args.key, prompt=True)
    _note_dev_key(key, args.key)
    write_output(formats.getpriv(key, args.format, minimal=args.minimal), args.output, mode=0o600)
    return 0


def _note_dev_key(key: object, path: str) -> None:
    from mcuseal.keys import dev_key_name

    name = dev_key_name(key)
    if name is not None:
        _log.warning("%s is the published %s: it protects nothing", path, name)
