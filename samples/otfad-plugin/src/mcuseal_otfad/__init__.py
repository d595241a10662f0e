"""OTFAD encryption engine for mcuseal (a separately installed plugin).

The ROM key-blob table (4 records of 64 bytes at the start of flash) and image
encryption for NXP's On-The-Fly AES Decryption engine.  Installing this distribution
registers the ``otfad`` engine through the ``mcuseal.engines`` entry-point group.
"""

from __future__ import annotations

from mcuseal_otfad.engine import OtfadEngine
from mcuseal_otfad.keyblob import KeyBlob, crc32_mpeg2, encrypt_data, key_blob_table

__version__ = "0.1.0"

__all__ = ["KeyBlob", "OtfadEngine", "crc32_mpeg2", "encrypt_data", "key_blob_table"]
