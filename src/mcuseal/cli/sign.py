"""``mcuseal sign`` (alias ``create``): a drop-in for ``imgtool sign`` with guard rails.

Every ``imgtool sign`` option keeps its name and meaning, so ``imgtool sign ARGS`` becomes
``mcuseal sign ARGS``.  What mcuseal adds is refusal where imgtool writes an image the
bootloader cannot use (P-384/RSA-3072 encryption keys, a KEK of the wrong length, ``--pure``
with encryption, MCUboot's published sample keys, encrypted-but-unsigned images), and never a
partial output file.
"""

from __future__ import annotations

import argparse
import base64
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcuseal.cli import _keyargs
from mcuseal.cli._common import add_json, based_int
from mcuseal.cli._keyargs import add_key_options
from mcuseal.errors import InputError, KeyError_, NotSupportedError, UsageError

if TYPE_CHECKING:
    from mcuseal.image import ImageVersion
    from mcuseal.image.crypto import KeyKind, KeyWrapper, Signer
    from mcuseal.image.sign import SignedImage, SignOptions

DESCRIPTION = (
    "Create a signed (and optionally encrypted) MCUboot image; the options are imgtool's.  "
    "INFILE and OUTFILE are Intel HEX if their name ends in .hex, binary otherwise."
)

_log = logging.getLogger(__name__)

# Signing/encryption pairs Zephyr's Kconfig offers (BOOT_ENCRYPT_IMAGE follows the signature
# type).  bootutil decodes other pairs too when built for them; those get a warning.
_KCONFIG_PAIRS = {
    ("ecdsa-p256", "ecies-p256"),
    ("ed25519", "ecies-x25519"),
    ("rsa-2048", "rsa-oaep"),
    ("rsa-3072", "rsa-oaep"),
}


def _header_size(text: str) -> int:
    value = based_int(text)
    if value < 32:
        raise argparse.ArgumentTypeError("Minimum value for -H/--header-size is 32")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("infile", metavar="INFILE", help="application binary (.bin or .hex)")
    add("outfile", metavar="OUTFILE", help="image to write (.bin or .hex)")
    add(
        "-k",
        "--key",
        metavar="filename",
        help="signing key: private PEM/DER, or a pkcs11: URI of a key in an HSM",
    )
    add(
        "--public-key-format",
        choices=("hash", "full"),
        default="hash",
        help="in what format to add the public key to the image manifest: full key or hash "
        "of the key (default hash)",
    )
    add(
        "--align",
        choices=("1", "2", "4", "8", "16", "32"),
        default="1",
        help="alignment used by swap update modes",
    )
    add(
        "--max-align",
        choices=("8", "16", "32"),
        help="maximum flash alignment; set if the primary and secondary slot alignments differ "
        "and either is larger than 8",
    )
    add("-v", "--version", required=True, help="image version, e.g. 1.2.3+4")
    add(
        "-s",
        "--security-counter",
        help="security counter value, or 'auto' to derive it from the version",
    )
    add("-d", "--dependencies", help='dependencies on other images: "(<image_ID>,<version>), ..."')
    add(
        "--pad-sig",
        action="store_true",
        help="add 0-2 bytes of padding to the ECDSA signature (for MCUboot < 1.5)",
    )
    add("-H", "--header-size", type=_header_size, required=True, help="header size, e.g. 0x200")
    add(
        "--pad-header",
        action="store_true",
        help="add --header-size zeroed bytes at the beginning of the image",
    )
    add(
        "-S",
        "--slot-size",
        type=based_int,
        required=True,
        help="size of the slot; if the slots differ, the size of the secondary slot",
    )
    add("--pad", action="store_true", help="pad image to --slot-size bytes, adding trailer magic")
    add(
        "--confirm",
        action="store_true",
        help="when padding the image, mark it as confirmed (implies --pad)",
    )
    add(
        "--test",
        action="store_true",
        help="when padding the image, mark it for a test swap (implies --pad)",
    )
    add(
        "-M",
        "--max-sectors",
        type=int,
        help="when padding allow for this amount of sectors (defaults to 128)",
    )
    add(
        "--boot-record",
        metavar="sw_type",
        help="create a CBOR encoded boot record TLV with this software type (max. 12 chars)",
    )
    add("--overwrite-only", action="store_true", help="use overwrite-only instead of swap upgrades")
    add(
        "-e",
        "--endian",
        choices=("little", "big"),
        default="little",
        help="select little or big endian",
    )
    add(
        "-c",
        "--clear",
        action="store_true",
        help="output a non-encrypted image with encryption capabilities, so it can be installed "
        "in the primary slot and encrypted when swapped to the secondary",
    )
    add(
        "--compression",
        choices=("disabled", "lzma2", "lzma2armthumb"),
        default="disabled",
        help="image compression; mcuseal supports only 'disabled' (see the README)",
    )
    add(
        "--encrypt-keylen",
        choices=("128", "256"),
        default="128",
        help="AES key length when encrypting (default 128)",
    )
    add(
        "-E",
        "--encrypt",
        metavar="filename",
        help="encrypt the image for this key: RSA-2048, P-256 or X25519 public/private PEM, or "
        "an AES-KW KEK (raw 16/32 bytes or base64)",
    )
    add(
        "--save-enctlv",
        action="store_true",
        help="when upgrading, save encrypted key TLVs instead of plain keys "
        "(MCUBOOT_SWAP_SAVE_ENCTLV)",
    )
    add("-F", "--rom-fixed", type=based_int, help="set flash address the image is built for")
    add(
        "-L",
        "--load-addr",
        type=based_int,
        help="load address for image when it should run from RAM",
    )
    add("-x", "--hex-addr", type=based_int, help="adjust address in hex output file")
    add(
        "-R",
        "--erased-val",
        choices=("0", "0xff"),
        help="the value that is read back from erased flash",
    )
    add(
        "--custom-tlv-file",
        nargs=2,
        action="append",
        default=[],
        metavar=("tag", "filename"),
        help="protected custom TLV whose value is the content of a file (repeatable)",
    )
    add(
        "--custom-tlv",
        nargs=2,
        action="append",
        default=[],
        metavar=("tag", "value"),
        help="protected custom TLV; a value with the 0x prefix is hex, otherwise a string "
        "(repeatable)",
    )
    add("--non-bootable", action="store_true", help="mark the image as non-bootable")
    add(
        "--fix-sig",
        metavar="filename",
        help="fixed signature (base64) used instead of signing with -k",
    )
    add("--fix-sig-pubkey", metavar="filename", help="public key of the --fix-sig signature")
    add(
        "--pure",
        action="store_true",
        help="pure Ed25519: sign the image itself rather than its hash",
    )
    add("--sig-out", metavar="filename", help="write the image signature to this file (base64)")
    add(
        "--sha",
        choices=("auto", "256", "384", "512"),
        default="auto",
        help="hash algorithm; auto picks the signature type's default",
    )
    add(
        "--hmac-sha",
        choices=("auto", "256", "512"),
        default="auto",
        help="hash used in the ECIES HKDF/HMAC (512 needs an X25519 -E key)",
    )
    add(
        "--vector-to-sign",
        choices=("payload", "digest"),
        help="write the payload or its digest to OUTFILE instead of the image, for external "
        "signing",
    )
    add("--vid", help="unique vendor identifier: a raw UUID or a domain name")
    add("--cid", help="unique image class identifier: a raw UUID or an image class name")
    # mcuseal's own options.
    add(
        "--allow-dev-keys",
        action="store_true",
        help="accept MCUboot's published sample keys (test builds only: they protect nothing)",
    )
    add(
        "--allow-unsigned",
        action="store_true",
        help="accept -E without -k: an unsigned encrypted image can be forged by anyone "
        "holding the encryption public key",
    )
    add_key_options(parser)
    add_json(parser)  # fmt: skip


def parse_dependencies(text: str) -> tuple[tuple[int, ImageVersion], ...]:
    """``-d "(1, 1.2.3+0), (2, 0.1)"`` as imgtool reads it."""
    from mcuseal.image import ImageVersion

    ids = re.findall(r"\((\d+)", text)
    versions = re.findall(r",\s*([0-9.+]+)\)", text)
    if not ids:
        raise UsageError(f'-d/--dependencies {text!r} is invalid: use "(<image_ID>,<version>)"')
    if len(ids) != len(versions):
        raise UsageError(
            f"-d/--dependencies {text!r}: {len(ids)} image ids but {len(versions)} versions"
        )
    return tuple((int(i), ImageVersion.parse(v)) for i, v in zip(ids, versions, strict=True))


def parse_custom_tlvs(
    values: list[list[str]], files: list[list[str]]
) -> tuple[tuple[int, bytes], ...]:
    """``--custom-tlv TAG VALUE`` and ``--custom-tlv-file TAG FILE`` in imgtool's order."""
    out: list[tuple[int, bytes]] = []
    tagged = [(tag, value, False) for tag, value in values]
    tagged += [(tag, name, True) for tag, name in files]
    for tag_text, value, from_file in tagged:
        try:
            tag = int(tag_text, 0)
        except ValueError:
            raise UsageError(f"--custom-tlv tag {tag_text!r} is not an integer") from None
        if from_file:
            try:
                data = Path(value).read_bytes()
            except OSError as err:
                raise InputError(
                    f"--custom-tlv-file {value}: {err.strerror}; check the path"
                ) from None
        elif value.startswith("0x"):
            if len(value) % 2:
                raise UsageError(f"--custom-tlv {tag_text} value {value} has an odd hex length")
            try:
                data = bytes.fromhex(value[2:])
            except ValueError:
                raise UsageError(f"--custom-tlv {tag_text} value {value} is not hex") from None
        else:
            data = value.encode("utf-8")
        out.append((tag, data))
    return tuple(out)


def build_options(args: argparse.Namespace) -> SignOptions:
    """The :class:`SignOptions` for parsed ``sign`` arguments (no files read but TLV files)."""
    from mcuseal.image import ImageVersion
    from mcuseal.image.sign import SignOptions

    counter: int | str | None = args.security_counter
    if isinstance(counter, str):
        if counter.lower() == "auto":
            counter = "auto"
        else:
            try:
                counter = int(counter, 0)
            except ValueError:
                raise UsageError(
                    f"-s/--security-counter {counter} is not an integer or 'auto'"
                ) from None
    return SignOptions(
        header_size=args.header_size,
        version=ImageVersion.parse(args.version),
        slot_size=args.slot_size,
        pad_header=args.pad_header,
        align=int(args.align),
        max_align=int(args.max_align) if args.max_align else None,
        max_sectors=args.max_sectors,
        erased_val=int(args.erased_val, 0) if args.erased_val else 0xFF,
        pad=args.pad,
        confirm=args.confirm,
        test=args.test,
        overwrite_only=args.overwrite_only,
        security_counter=counter,  # type: ignore[arg-type]
        dependencies=parse_dependencies(args.dependencies) if args.dependencies else (),
        boot_record=args.boot_record,
        custom_tlvs=parse_custom_tlvs(args.custom_tlv, args.custom_tlv_file),
        load_addr=args.load_addr or 0,
        rom_fixed=args.rom_fixed,
        vid=args.vid,
        cid=args.cid,
        non_bootable=args.non_bootable,
        sha="auto" if args.sha == "auto" else int(args.sha),  # type: ignore[arg-type]
        pure=args.pure,
        public_key_format=args.public_key_format,
        pad_sig=args.pad_sig,
        encrypt_keylen=int(args.encrypt_keylen),  # type: ignore[arg-type]
        hmac_sha="auto" if args.hmac_sha == "auto" else int(args.hmac_sha),  # type: ignore[arg-type]
        clear=args.clear,
        save_enctlv=args.save_enctlv,
        endian=args.endian,
    )


class _Keys:
    """The keys of one ``sign`` run, checked before any output is produced."""

    def __init__(self) -> None:
        self.signer: Signer | None = None
        self.wrapper: KeyWrapper | None = None
        self.external: tuple[bytes, bytes, KeyKind] | None = None
        self.vector_key: tuple[bytes, KeyKind] | None = None
        self.dev_keys: list[str] = []
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        _log.warning("%s", message)


def _check_dev(keys: _Keys, key: object, role: str, path: str, allow: bool) -> None:
    from mcuseal.keys import refuse_dev_keys

    name = refuse_dev_keys(key, role=role, path=path, allow=allow)
    if name is not None:
        keys.dev_keys.append(name)
        keys.warnings.append(f"DEVELOPMENT KEY: {role} {path} is the published {name}")


def load_keys(args: argparse.Namespace, options: SignOptions) -> _Keys:
    """Load and vet every key the arguments name; raise before any output exists."""
    keys = _Keys()
    try:
        _load_keys(args, options, keys)
    except BaseException:
        _keyargs.close(keys.signer)
        raise
    return keys


def _load_keys(args: argparse.Namespace, options: SignOptions, keys: _Keys) -> None:
    from mcuseal.image.crypto import key_kind, public_key_bytes
    from mcuseal.image.sign import check_encryption
    from mcuseal.keys import wrapper_for

    if args.key and args.fix_sig:
        raise UsageError("give either -k or --fix-sig, not both")
    if args.fix_sig and not args.fix_sig_pubkey:
        raise UsageError("public key of the fixed signature is not specified: add --fix-sig-pubkey")
    if args.key:
        shown = _keyargs.describe(args.key)
        if args.vector_to_sign:
            key = _keyargs.load_public_key(args.key, args)
            _check_dev(keys, key, "signing key", shown, args.allow_dev_keys)
            keys.vector_key = (public_key_bytes(key), key_kind(key))
        else:
            keys.signer = _keyargs.open_signer(args.key, args)
            _check_dev(
                keys, keys.signer.public_key_bytes(), "signing key", shown, args.allow_dev_keys
            )
    if args.fix_sig:
        try:
            text = b"".join(Path(args.fix_sig).read_bytes().split())
            signature = base64.b64decode(text, validate=True)
        except OSError as err:
            raise InputError(f"--fix-sig {args.fix_sig}: {err.strerror}; check the path") from None
        except ValueError:
            signature = b""
        if not signature:
            raise InputError(
                f"--fix-sig {args.fix_sig} is not a base64 signature (as --sig-out writes it)"
            )
        pub = _keyargs.load_public_key(args.fix_sig_pubkey, args)
        shown = _keyargs.describe(args.fix_sig_pubkey)
        _check_dev(keys, pub, "--fix-sig-pubkey", shown, args.allow_dev_keys)
        keys.external = (signature, public_key_bytes(pub), key_kind(pub))
    if args.encrypt:
        enc = _keyargs.load_encryption_key(args.encrypt, args)
        shown = _keyargs.describe(args.encrypt)
        _check_dev(keys, enc, "encryption key", shown, args.allow_dev_keys)
        keys.wrapper = wrapper_for(enc, path=shown)
        scheme = keys.wrapper.scheme
        try:
            check_encryption(options, keys.wrapper)
        except KeyError_ as err:
            raise KeyError_(f"-E {args.encrypt}: {err}") from None
        sig_kind = _signature_kind(keys)
        if sig_kind is None and not args.vector_to_sign and not args.allow_unsigned:
            raise UsageError(
                "refusing to encrypt an unsigned image: it carries only a hash, so anyone with "
                "the public encryption key can forge one; add -k KEY (or --allow-unsigned)"
            )
        if sig_kind is not None and (sig_kind.value, scheme.value) not in _KCONFIG_PAIRS:
            keys.warn(
                f"{sig_kind.value} signing with {scheme.value} encryption is not a pair Zephyr's "
                "Kconfig offers; bootutil decodes it only if MCUboot is built for both"
            )
    else:
        for given, option in (
            (options.hmac_sha == 512, "--hmac-sha 512"),
            (options.clear, "--clear"),
        ):
            if given:
                keys.warn(f"{option} has no effect without -E")


def _signature_kind(keys: _Keys) -> KeyKind | None:
    if keys.signer is not None:
        return keys.signer.key_kind
    if keys.external is not None:
        return keys.external[2]
    return None


def _encryption_state(image: SignedImage) -> str:
    if image.enc_tlv is None:
        return "NOT ENCRYPTED"
    return "CLEAR" if image.options.clear else "ENCRYPTED"


def _report(args: argparse.Namespace, image: SignedImage, keys: _Keys) -> dict[str, Any]:
    header = image.header
    enc = image.enc_tlv
    return {
        "output": args.outfile,
        "size": image.size,
        "image_size": image.image_size,
        "version": str(header.version),
        "header_size": header.hdr_size,
        "flags": int(header.flags),
        "hash": {"type": image.unprotected_tlvs[0].type_name, "value": image.digest.hex()},
        "signature": None if _signature_kind(keys) is None else _signature_kind(keys).value,  # type: ignore[union-attr]
        "encryption": {
            "state": _encryption_state(image),
            "aes_key_bits": image.options.encrypt_keylen if enc is not None else None,
            "scheme": keys.wrapper.scheme.value if keys.wrapper is not None else None,
            "key_tlv": enc.type_name if enc is not None else None,
        },
        "padded": image.options.pads,
        "dev_keys": keys.dev_keys,
        "warnings": keys.warnings,
    }


def _write_image(args: argparse.Namespace, image: SignedImage, hex_base: int | None) -> None:
    from mcuseal._io import atomic_write, atomic_writer

    if hex_base is not None:
        from mcuseal.image.hexfile import dump_hex

        atomic_write(args.outfile, dump_hex(image, hex_base).encode("ascii"))
        return
    with atomic_writer(args.outfile) as out:
        image.write_to(out)


def _write_vector(
    args: argparse.Namespace,
    vector: bytes,
    options: SignOptions,
    hex_base: int | None,
    *,
    encrypted: bool,
) -> None:
    """Save ``--vector-to-sign`` output as imgtool does: Intel HEX for a ``.hex`` name, and
    with ``--pad`` fill and trailer up to the slot, exactly like an image."""
    from mcuseal._io import atomic_write
    from mcuseal.image.sign import padded_vector, trailer_rows

    if hex_base is not None:
        from mcuseal.image.hexfile import dump_hex

        text = dump_hex(vector, hex_base, trailer_rows(options))
        atomic_write(args.outfile, text.encode("ascii"))
    elif options.pads:
        atomic_write(args.outfile, padded_vector(vector, options, encrypted=encrypted))
    else:
        atomic_write(args.outfile, vector)


def run(args: argparse.Namespace) -> int:
    from mcuseal.cli._imagefile import check_output_path

    if args.compression != "disabled":
        raise NotSupportedError(
            f"--compression {args.compression} is not supported by mcuseal: build the image "
            "with --compression disabled (the default), or use imgtool for compressed images"
        )
    options = build_options(args)
    if args.sig_out and not (args.key or args.fix_sig):
        raise UsageError("--sig-out needs a signature: add -k KEY")
    if args.sig_out and args.vector_to_sign:
        raise UsageError("--sig-out needs a signature, and --vector-to-sign makes none: drop one")
    check_output_path(args.outfile, inputs=(args.infile,))
    if args.sig_out:
        check_output_path(args.sig_out, inputs=(args.infile,))
        if Path(args.sig_out).resolve() == Path(args.outfile).resolve():
            raise UsageError(
                f"--sig-out {args.sig_out} is OUTFILE too: the signature would replace the "
                "image; choose another name"
            )
    keys = load_keys(args, options)
    try:
        return _sign(args, options, keys)
    finally:
        _keyargs.close(keys.signer)  # logs out of the token, if the key is in one


def _sign(args: argparse.Namespace, options: SignOptions, keys: _Keys) -> int:
    from mcuseal._io import atomic_write
    from mcuseal.cli import _output
    from mcuseal.cli._imagefile import is_hex
    from mcuseal.image.sign import sign_image

    input_base: int | None = None
    source: Any
    if is_hex(args.infile):
        from mcuseal.image.hexfile import load_hex

        input_base, source = load_hex(args.infile)
    else:
        if Path(args.infile).is_dir():
            raise InputError(f"input {args.infile} is a directory; pass a file")
        try:
            source = open(args.infile, "rb")  # noqa: SIM115 - closed below, streamed twice
        except FileNotFoundError:
            raise InputError(f"input {args.infile} does not exist; check the path") from None
        except OSError as err:
            raise InputError(f"cannot read input {args.infile}: {err.strerror}") from None
    hex_base: int | None = None
    if is_hex(args.outfile):
        from mcuseal.image.hexfile import output_base_addr

        hex_base = output_base_addr(
            input_base,
            pad_header=args.pad_header,
            header_size=args.header_size,
            hex_addr=args.hex_addr,
        )
    sign_options = options
    if args.vector_to_sign:
        # imgtool exports the vector before its size check; slot options only pad the file.
        sign_options = replace(options, slot_size=0, pad=False, confirm=False, test=False)
    try:
        image = sign_image(
            source,
            sign_options,
            signer=keys.signer,
            encrypt_to=keys.wrapper,
            external_signature=keys.external,
            public_key=keys.vector_key,
        )
        if args.vector_to_sign:
            vector = image.vector_to_sign(args.vector_to_sign)
            _write_vector(args, vector, options, hex_base, encrypted=keys.wrapper is not None)
        else:
            _write_image(args, image, hex_base)
    finally:
        if hasattr(source, "close"):
            source.close()
    if args.sig_out and image.signature is not None:
        atomic_write(args.sig_out, base64.b64encode(image.signature))
    report = _report(args, image, keys)
    if args.json:
        _output.print_json(report)
    elif not args.vector_to_sign:
        enc = report["encryption"]
        what = enc["state"]
        if enc["key_tlv"]:
            what += f" (AES-{enc['aes_key_bits']}, {enc['scheme']}, {enc['key_tlv']})"
        _output.line(
            f"{args.outfile}: version {report['version']}, {report['image_size']} bytes"
            f"{' padded to ' + str(report['size']) if report['padded'] else ''}, "
            f"{report['signature'] or 'unsigned'}, {what}"
        )
    return 0
