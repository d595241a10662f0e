"""What ``mcuseal dfu upload`` sends: signed images read from a file or a ``dfu_application.zip``.

Every image is checked to be an MCUboot image and its hash TLV is read, because the DFU
flow compares that hash with the one the device lists before it marks anything.

``dfu_application.zip`` is the archive NCS's ``generate_zip.py`` writes: a
``manifest.json`` with ``format-version`` and a ``files`` list whose entries name the
``file`` and, with several images, an ``image_index`` *string* ("0" app core, "1" nRF5340
net core); entries without ``image_index`` are image 0.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mcuseal.errors import InputError

IMAGE_MAGIC: Final = 0x96F3B83D
#: magic, load_addr, hdr_size, protect_tlv_size, img_size, flags, version (B B H I), pad
IMAGE_HEADER: Final = struct.Struct("<IIHHIIBBHI4x")
assert IMAGE_HEADER.size == 32
TLV_INFO: Final = struct.Struct("<HH")
assert TLV_INFO.size == 4
TLV_ENTRY: Final = struct.Struct("<HH")
assert TLV_ENTRY.size == 4
TLV_INFO_MAGIC: Final = 0x6907
TLV_PROT_INFO_MAGIC: Final = 0x6908
#: hash TLV types (SHA256, SHA384, SHA512); the device reports whichever the image has
HASH_TLVS: Final = (0x10, 0x11, 0x12)
IMAGE_F_ENCRYPTED: Final = 0x04 | 0x08


@dataclass(frozen=True)
class DfuImage:
    """One image to upload.

    :param image: the image number on the device (0 app core, 1 net core).
    :param data: the file's bytes, uploaded as they are.
    :param name: where it came from, for messages.
    :param hash: the MCUboot hash TLV, the value the device lists in its image state.
    :param version: ``"x.y.z"`` or ``"x.y.z.build"``, as Zephyr formats it.
    :param encrypted: the header's encrypted flag is set.
    """

    image: int
    data: bytes
    name: str
    hash: bytes
    version: str
    encrypted: bool

    @property
    def sha256(self) -> bytes:
        """SHA-256 of the whole file: the upload session's ``sha``."""
        return hashlib.sha256(self.data).digest()


def zephyr_version(major: int, minor: int, revision: int, build: int) -> str:
    """Format a version the way Zephyr's ``img_mgmt_ver_str`` does (build only if non-zero)."""
    base = f"{major}.{minor}.{revision}"
    return f"{base}.{build}" if build else base


def load_image(data: bytes, *, name: str, image: int = 0) -> DfuImage:
    """Check *data* is a signed MCUboot image and read its hash TLV and version.

    :raises InputError: not an MCUboot image, truncated, or no hash TLV.
    """
    if len(data) < IMAGE_HEADER.size:
        raise InputError(f"{name}: {len(data)} B is too short for an MCUboot image header")
    magic, _load, hdr_size, prot_size, img_size, flags, major, minor, rev, build = (
        IMAGE_HEADER.unpack_from(data)
    )
    if magic != IMAGE_MAGIC:
        raise InputError(
            f"{name}: not an MCUboot image (magic {magic:#010x}); upload the signed image "
            "(zephyr.signed.bin or zephyr.signed.encrypted.bin), not zephyr.bin"
        )
    pos = hdr_size + img_size
    if prot_size:
        pos = _walk_tlvs(data, pos, TLV_PROT_INFO_MAGIC, name)[0]
    _, digest = _walk_tlvs(data, pos, TLV_INFO_MAGIC, name)
    if digest is None:
        raise InputError(
            f"{name}: the MCUboot image has no hash TLV; sign it with imgtool or mcuseal"
        )
    return DfuImage(
        image=image,
        data=data,
        name=name,
        hash=digest,
        version=zephyr_version(major, minor, rev, build),
        encrypted=bool(flags & IMAGE_F_ENCRYPTED),
    )


def _walk_tlvs(data: bytes, pos: int, magic: int, name: str) -> tuple[int, bytes | None]:
    if pos + TLV_INFO.size > len(data):
        raise InputError(f"{name}: the MCUboot image is truncated (no TLV area at {pos:#x})")
    found_magic, total = TLV_INFO.unpack_from(data, pos)
    if found_magic != magic:
        raise InputError(
            f"{name}: bad TLV area magic {found_magic:#06x} at {pos:#x} (expected {magic:#06x}); "
            "the image is corrupt or truncated"
        )
    end = pos + total
    if end > len(data) or total < TLV_INFO.size:
        raise InputError(f"{name}: the TLV area at {pos:#x} runs past the end of the file")
    digest: bytes | None = None
    entry = pos + TLV_INFO.size
    while entry < end:
        if entry + TLV_ENTRY.size > end:
            raise InputError(f"{name}: a TLV entry at {entry:#x} is cut off")
        kind, length = TLV_ENTRY.unpack_from(data, entry)
        value_end = entry + TLV_ENTRY.size + length
        if value_end > end:
            raise InputError(f"{name}: TLV {kind:#x} at {entry:#x} runs past its area")
        if kind in HASH_TLVS and digest is None:
            digest = data[entry + TLV_ENTRY.size : value_end]
        entry = value_end
    return end, digest


def load_zip(data: bytes, *, name: str) -> list[DfuImage]:
    """Read a ``dfu_application.zip``: one image per manifest entry, sorted by image number.

    :raises InputError: not a zip, no or bad ``manifest.json``, a missing file, a
        duplicate image index, or an entry that is not an MCUboot image.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(f"{name}: not a zip archive") from None
    with archive:
        try:
            manifest = json.loads(archive.read("manifest.json"))
        except KeyError:
            raise InputError(
                f"{name}: no manifest.json; expected a dfu_application.zip from an NCS build"
            ) from None
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(f"{name}: manifest.json is not valid JSON ({err})") from None
        except zipfile.BadZipFile as err:
            raise InputError(f"{name}: corrupt zip ({err})") from None
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, list) or not files:
            raise InputError(f"{name}: manifest.json has no 'files' list")
        images: dict[int, DfuImage] = {}
        for entry in files:
            image = _manifest_image(entry, name)
            if image is None:
                continue
            index, member = image
            if index in images:
                raise InputError(f"{name}: manifest.json lists image {index} twice")
            try:
                blob = archive.read(member)
            except KeyError:
                raise InputError(
                    f"{name}: manifest.json names {member!r}, not in the zip"
                ) from None
            except zipfile.BadZipFile as err:
                raise InputError(f"{name}: corrupt zip member {member!r} ({err})") from None
            images[index] = load_image(blob, name=f"{name}:{member}", image=index)
    if not images:
        raise InputError(f"{name}: manifest.json lists no application image")
    return [images[i] for i in sorted(images)]


def _manifest_image(entry: Any, name: str) -> tuple[int, str] | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise InputError(f"{name}: a manifest.json entry has no 'file' name")
    kind = entry.get("type", "application")
    if kind != "application":
        # A bootloader ("mcuboot") update is not an image-group upload of the app.
        return None
    raw = entry.get("image_index", "0")
    try:
        index = int(raw)
    except (TypeError, ValueError):
        raise InputError(f"{name}: manifest.json image_index {raw!r} is not a number") from None
    if not 0 <= index <= 15:
        raise InputError(f"{name}: manifest.json image_index {index} is out of range")
    return index, entry["file"]


def load_path(path: Path, *, image: int | None = None) -> list[DfuImage]:
    """Read what the user passed to ``mcuseal dfu upload``: an image file or a zip.

    :param image: the image number for a single image file (``--image``), default 0.
    :raises InputError: unreadable file, or the checks of :func:`load_image`/:func:`load_zip`.
    """
    if path.is_dir():
        path = find_in_build_dir(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    if data[:4] == b"PK\x03\x04" or path.suffix.lower() == ".zip":
        if image is not None:
            raise InputError("--image applies to a single image file, not to a zip")
        return load_zip(data, name=str(path))
    if path.suffix.lower() == ".hex":
        # imgtool's signed .hex: the image at its load address and, for --pad, the
        # trailer at the end of the slot; the gap reads as erased flash.
        from mcuseal.image.hexfile import load_hex

        try:
            _base, data = load_hex(data)
        except InputError as err:
            raise InputError(f"{path}: {err}") from None
    return [load_image(data, name=str(path), image=image or 0)]


#: what a build produces for DFU, best first (an encrypted image over its plaintext twin)
_BUILD_OUTPUTS: Final = ("zephyr.signed.encrypted.bin", "zephyr.signed.bin")


def find_in_build_dir(build_dir: Path) -> Path:
    """Pick the DFU payload of a Zephyr/NCS build directory.

    ``dfu_application.zip`` when the build made one (NCS, all images); otherwise the
    signed application image: ``zephyr/`` of a plain build, or ``<app>/zephyr/`` of a
    sysbuild build (the ``default`` domain of ``domains.yaml``), encrypted if present.

    :raises InputError: nothing uploadable there.
    """
    archive = build_dir / "dfu_application.zip"
    if archive.is_file():
        return archive
    app_dirs = [build_dir / "zephyr"]
    domains = build_dir / "domains.yaml"
    if domains.is_file():
        import yaml

        try:
            default = yaml.safe_load(domains.read_text(encoding="utf-8")).get("default")
        except (OSError, ValueError, AttributeError, yaml.YAMLError):
            default = None
        if isinstance(default, str) and default:
            app_dirs.insert(0, build_dir / default / "zephyr")
    for app_dir in app_dirs:
        for name in _BUILD_OUTPUTS:
            if (app_dir / name).is_file():
                return app_dir / name
    raise InputError(
        f"{build_dir}: no dfu_application.zip or zephyr.signed(.encrypted).bin in this build "
        "directory; build with MCUboot enabled (SB_CONFIG_BOOTLOADER_MCUBOOT=y) or pass the file"
    )
