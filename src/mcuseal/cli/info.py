"""``mcuseal info IMAGE``: header, TLVs and trailer of an MCUboot image."""

from __future__ import annotations

import argparse
import hashlib
import struct
from typing import TYPE_CHECKING, Any

from mcuseal.cli._common import add_json

if TYPE_CHECKING:
    from mcuseal.image import ParsedImage, Tlv

DESCRIPTION = (
    "Show an MCUboot image's header, protected and unprotected TLVs and trailer (.bin or "
    ".hex).  Nothing is verified; use 'mcuseal verify' for that."
)

_HASHES = {0x10: hashlib.sha256, 0x11: hashlib.sha384, 0x12: hashlib.sha512}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE", help="signed image (.bin or .hex)")
    add_json(parser)


def _decode(tlv: Tlv, endian: str) -> str | None:
    """A readable form of well-known TLV values, or None."""
    from mcuseal.image import TlvType

    order = "<" if endian == "little" else ">"
    if tlv.type == TlvType.SEC_CNT and len(tlv.value) == 4:
        return str(struct.unpack(order + "I", tlv.value)[0])
    if tlv.type == TlvType.DEPENDENCY and len(tlv.value) == 12:
        image_id, major, minor, rev, build = struct.unpack(order + "B3xBBHI", tlv.value)
        return f"image {image_id} >= {major}.{minor}.{rev}+{build}"
    if tlv.type >= 0xA0 and tlv.value.isascii():
        text = tlv.value.decode("ascii", "replace")
        if text.isprintable():
            return repr(text)
    return None


def describe(image: ParsedImage) -> dict[str, Any]:
    """The JSON form of ``info``.

    TLV ``type`` is what imgtool meant; ``read_as`` is the 16-bit type bootutil reads, which
    differs only in ``-e big`` images (SHA256 reads as 0x1000 there).
    """
    parsed = image.with_imgtool_types()
    h = parsed.header
    hash_tlv = parsed.hash_tlv
    stored_hash_matches: bool | None = None
    if hash_tlv is not None and hash_tlv.type in _HASHES:
        digest = _HASHES[hash_tlv.type](parsed.hashed_region()).digest()
        stored_hash_matches = digest == hash_tlv.value
    enc = parsed.enc_tlv
    trailer = parsed.trailer
    return {
        "header": {
            "magic": f"0x{h.magic:08x}",
            "load_addr": h.load_addr,
            "hdr_size": h.hdr_size,
            "protect_tlv_size": h.protect_tlv_size,
            "img_size": h.img_size,
            "flags": int(h.flags),
            "flag_names": [f.name for f in type(h.flags) if f in h.flags and f.name],
            "version": str(h.version),
            "endian": parsed.endian,
        },
        "tlvs": [
            {
                "area": area,
                "type": tlv.type,
                "read_as": raw.type,
                "name": tlv.type_name,
                "length": len(tlv.value),
                "value": tlv.value.hex(),
                "decoded": _decode(tlv, parsed.endian),
            }
            for area, tlvs, raws in (
                ("protected", parsed.protected_tlvs, image.protected_tlvs),
                ("unprotected", parsed.unprotected_tlvs, image.unprotected_tlvs),
            )
            for tlv, raw in zip(tlvs, raws, strict=True)
        ],
        "encryption": {
            "aes_key_bits": parsed.aes_key_bits,
            "key_tlv": enc.type_name if enc is not None else None,
            # Hash over the stored payload: it matches only when the payload is plaintext.
            "stored_payload_matches_hash": stored_hash_matches,
        },
        "trailer": None
        if trailer is None
        else {
            "slot_size": trailer.slot_size,
            "max_align": trailer.max_align,
            "image_ok": trailer.image_ok,
            "confirmed": trailer.confirmed,
            "erased_val": trailer.erased_val,
        },
        "image_end": parsed.tlv_end,
    }


def _payload_statement(info: dict[str, Any]) -> str:
    enc = info["encryption"]
    matches = enc["stored_payload_matches_hash"]
    if enc["aes_key_bits"] is None:
        return "NOT ENCRYPTED (no encryption flag)"
    what = f"AES-{enc['aes_key_bits']} flag, key TLV {enc['key_tlv'] or 'MISSING'}"
    if matches is True:
        return f"CLEAR ({what}; the stored payload is plaintext: the --clear form)"
    if matches is False:
        return f"ENCRYPTED ({what}; the stored payload does not hash to the stored hash)"
    return f"UNKNOWN ({what}; no hash TLV to tell)"


def run(args: argparse.Namespace) -> int:
    from mcuseal.cli import _output
    from mcuseal.cli._imagefile import read_input
    from mcuseal.image import ParsedImage

    parsed = ParsedImage.loads(read_input(args.image))
    info = describe(parsed)
    info["payload"] = _payload_statement(info)
    if args.json:
        _output.print_json({"image": args.image, **info})
        return 0
    from rich.markup import escape
    from rich.table import Table

    out = _output.stdout()
    h = info["header"]
    out.print(f"[bold]{escape(args.image)}[/bold]")
    out.print(
        f"  version {h['version']}  header {h['hdr_size']} B  payload {h['img_size']} B  "
        f"protected TLVs {h['protect_tlv_size']} B  load_addr 0x{h['load_addr']:x}"
    )
    out.print(f"  flags 0x{h['flags']:08x} {' '.join(h['flag_names']) or '(none)'}")
    out.print(f"  payload: {escape(info['payload'])}")
    if h["endian"] == "big":
        out.print(
            "  [red]big-endian (imgtool -e big): no MCUboot build accepts this image[/red] "
            "(TLV types are shown as imgtool meant them; 'mcuseal verify' explains)"
        )
    table = Table("area", "type", "len", "value", box=None, pad_edge=False)
    for tlv in info["tlvs"]:
        value = tlv["decoded"] or tlv["value"]
        if len(value) > 64:
            value = value[:64] + "…"
        kind = f"{tlv['name']} (0x{tlv['type']:02x}"
        if tlv["read_as"] != tlv["type"]:
            kind += f", read as 0x{tlv['read_as']:04x}"
        table.add_row(tlv["area"], kind + ")", str(tlv["length"]), escape(value))
    out.print(table)
    trailer = info["trailer"]
    if trailer is None:
        out.print(f"  trailer: none (image ends at {info['image_end']} bytes, not padded)")
    else:
        state = "confirmed" if trailer["confirmed"] else "test/pending"
        out.print(
            f"  trailer: padded to {trailer['slot_size']} bytes, max_align "
            f"{trailer['max_align']}, image_ok 0x{trailer['image_ok']:02x} ({state})"
        )
    return 0
