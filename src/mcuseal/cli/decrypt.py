"""``mcuseal decrypt IMAGE -E KEY -o OUT``: the plaintext of an encrypted image."""

from __future__ import annotations

import argparse

from mcuseal.cli._common import add_json
from mcuseal.errors import UsageError

DESCRIPTION = (
    "Decrypt an encrypted image with the device's key and check the plaintext against the "
    "image hash.  Writes the plaintext payload (including imgtool's 0-15 zero pad bytes), or "
    "with --image the whole image in the --clear form (plaintext payload, encryption flag and "
    "key TLV kept), which is valid in the primary slot."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE", help="encrypted image (.bin or .hex)")
    parser.add_argument(
        "-E", "--encrypt", metavar="KEY", required=True,
        help="the device's decryption key: private PEM/DER, or an AES-KW KEK (raw or base64)",
    )  # fmt: skip
    parser.add_argument(
        "-o", "--output", metavar="OUT", required=True, help="file to write (binary)"
    )
    parser.add_argument(
        "--image",
        dest="whole_image",
        action="store_true",
        help="write the whole image in the --clear form instead of the payload alone",
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from mcuseal._io import atomic_write
    from mcuseal.cli import _output
    from mcuseal.cli._imagefile import check_output_path, is_hex, read_input
    from mcuseal.image.verify import decrypt_image
    from mcuseal.keys import load_device_key

    if is_hex(args.output):
        raise UsageError(f"decrypt writes binary; name the output .bin, not {args.output}")
    check_output_path(args.output, inputs=(args.image,))
    device_key = load_device_key(args.encrypt, prompt=True)
    decrypted = decrypt_image(read_input(args.image), device_key)
    data = decrypted.clear_image() if args.whole_image else decrypted.payload
    atomic_write(args.output, data)
    result = {
        "image": args.image,
        "output": args.output,
        "content": "clear image" if args.whole_image else "payload",
        "size": len(data),
        "aes_key_bits": decrypted.image.aes_key_bits,
        "version": str(decrypted.image.header.version),
    }
    if args.json:
        _output.print_json(result)
    else:
        _output.line(
            f"{args.output}: {result['content']}, {len(data)} bytes, decrypted with "
            f"{device_key.scheme.value} (AES-{result['aes_key_bits']}) and matching the image hash"
        )
    return 0
