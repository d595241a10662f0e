"""The ``otfad`` engine class: what mcuseal calls."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from mcuseal.errors import UsageError
from mcuseal.plugins import (
    Artifact,
    EncryptionEngine,
    EngineCaps,
    OutputFile,
    XipMode,
    XipRequest,
    XipResult,
)
from mcuseal.plugins.nxpimage import NxpimageConfig
from mcuseal_otfad import nxpimage
from mcuseal_otfad.keyblob import KeyBlob, encrypt_data, key_blob_table

DEVICE_ONLY_REASON: Final = (
    "the MCUboot OTFAD metadata block (SDK 26.x design) holds a CAAM blob whose key is "
    "derived from the OTPMK inside the chip, so only the device can make it"
)
NOT_IN_MCUBOOT: Final = (
    "NXP's MCUboot extension does not implement OTFAD yet ('Planned'); the files here are "
    "the ROM's key-blob table (flash offset 0) and ROM-decryptable data"
)


def _hex_bytes(text: str | None, size: int, option: str) -> bytes | None:
    if text is None:
        return None
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise UsageError(f"{option} {text!r} is not hex") from None
    if len(value) != size:
        raise UsageError(f"{option} must be {size} bytes, got {len(value)}")
    return value


class OtfadEngine(EncryptionEngine):
    """OTFAD: the ROM key-blob table and AES-CTR data for one region."""

    name = "otfad"
    description = "i.MX RT10xx/11xx/5xx/6xx On-The-Fly AES Decryption (ROM key-blob table)"
    families = tuple(nxpimage.FAMILIES)
    caps = EngineCaps(
        host=frozenset({Artifact.ROM_HEADER, Artifact.ENCRYPTED_DATA, Artifact.KEYS}),
        device_only=frozenset({Artifact.CONFIG_BLOCK}),
        device_only_reason=DEVICE_ONLY_REASON,
        nxpimage_export=True,
        config_block_size=112,
        modes=frozenset({XipMode.OVERWRITE_ONLY}),
    )

    def __init__(
        self,
        *,
        kek: bytes | None = None,
        key: bytes | None = None,
        ctr: bytes | None = None,
        byte_swap: bool = False,
    ) -> None:
        self.kek = kek
        self.key = key
        self.ctr = ctr
        self.byte_swap = byte_swap

    @classmethod
    def add_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--otfad-kek", metavar="HEX", help="16-byte key-encryption key")
        group.add_argument("--otfad-key", metavar="HEX", help="16-byte data key (default: random)")
        group.add_argument("--otfad-ctr", metavar="HEX", help="8-byte counter (default: random)")
        group.add_argument(
            "--otfad-byte-swap", action="store_true", help="swap 8-byte halves (RT6xx flash)"
        )

    @classmethod
    def add_export_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Options ``nxpimage otfad export`` takes on its command line."""
        parser.add_argument(
            "-a",
            "--alignment",
            dest="nxpimage_alignment",
            type=lambda s: int(s, 0),
            default=512,
            help="alignment of the data blobs (default 512)",
        )
        parser.add_argument(
            "-i", "--index", dest="nxpimage_index", type=lambda s: int(s, 0), help="OTFAD index"
        )

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> OtfadEngine:
        return cls(
            kek=_hex_bytes(getattr(ns, "otfad_kek", None), 16, "--otfad-kek"),
            key=_hex_bytes(getattr(ns, "otfad_key", None), 16, "--otfad-key"),
            ctr=_hex_bytes(getattr(ns, "otfad_ctr", None), 8, "--otfad-ctr"),
            byte_swap=getattr(ns, "otfad_byte_swap", False),
        )

    def build(self, request: XipRequest) -> XipResult:
        if self.kek is None:
            raise UsageError("OTFAD needs the key-encryption key (--otfad-kek HEX)")
        layout = request.layout
        if request.mode is not XipMode.OVERWRITE_ONLY:
            raise UsageError("OTFAD supports only the overwrite-only mode")
        key = self.key or os.urandom(16)
        ctr = self.ctr or os.urandom(8)
        end = layout.slot0_addr + layout.slot_size - layout.sector_size
        blob = KeyBlob(layout.slot0_addr, end, key, ctr)
        files = [
            OutputFile(
                "otfad_table.bin",
                key_blob_table([blob], self.kek),
                "OTFAD key-blob table (context 0 = slot 0)",
                layout.flash_base,
            )
        ]
        if request.image is not None:
            data = encrypt_data(blob, layout.slot0_addr, request.image, byte_swap=self.byte_swap)
            files.append(
                OutputFile("slot0_encrypted.bin", data, "OTFAD-encrypted slot 0", blob.start)
            )
        facts = (
            ("region", f"{blob.start:#010x}..{blob.end:#010x}"),
            ("key", key.hex()),
            ("counter", ctr.hex()),
        )
        return XipResult(tuple(files), facts, (DEVICE_ONLY_REASON, NOT_IN_MCUBOOT))

    def export_nxpimage(self, config_path: Path, overrides: Mapping[str, object]) -> XipResult:
        cfg = NxpimageConfig.load_file(config_path)
        alignment = overrides.get("nxpimage_alignment", 512)
        index = overrides.get("nxpimage_index")
        return nxpimage.export(
            cfg,
            data_alignment=int(alignment) if isinstance(alignment, int) else 512,
            index=index if isinstance(index, int) else None,
        )
