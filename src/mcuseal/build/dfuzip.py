"""Rewrite an NCS ``dfu_application.zip`` (and its ``_manifest.json``) in place.

The manifest follows ``nrf/scripts/bootloader/generate_zip.py``: ``format-version`` (1 for
sysbuild, 0 for NCS v1.x), ``files`` with per-file ``image_index`` (a *string*),
``load_address`` (an *integer*), ``size``, ``file``, ``modtime``.  Only ``size``, ``file``
and ``modtime`` of a replaced entry change; every other key, value and zip member stays as
the SDK wrote it.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcuseal.errors import BuildError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Replacement:
    """Put *data* under *new_name* in place of the entry now named *old_name*."""

    old_name: str
    new_name: str
    data: bytes


@dataclass(frozen=True)
class RewrittenZip:
    zip_bytes: bytes
    manifest_text: str
    manifest: dict[str, Any]


def load_manifest(zip_path: Path) -> dict[str, Any]:
    """The manifest stored in *zip_path*, validated; :class:`BuildError` when malformed."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = set(zf.namelist())
            if MANIFEST_NAME not in names:
                raise BuildError(f"{zip_path} has no {MANIFEST_NAME}; it is not an NCS DFU zip")
            text = zf.read(MANIFEST_NAME).decode("utf-8")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as err:
        raise BuildError(f"cannot read {zip_path}: {err}; rebuild to regenerate it") from None
    manifest = _parse(text, f"{zip_path}:{MANIFEST_NAME}")
    for entry in manifest["files"]:
        if entry["file"] not in names:
            raise BuildError(
                f"{zip_path}: the manifest lists {entry['file']!r}, which the zip does not hold"
            )
    return manifest


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        manifest = json.loads(text)
    except ValueError as err:
        raise BuildError(f"{source} is not valid JSON ({err}); rebuild to regenerate it") from None
    if not isinstance(manifest, dict) or "format-version" not in manifest:
        raise BuildError(f"{source} has no format-version; it is not a generate_zip.py manifest")
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        raise BuildError(f"{source} has no 'files' list; it is not a generate_zip.py manifest")
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise BuildError(f"{source}: every entry in 'files' needs a 'file' name")
        if "image_index" in entry and not isinstance(entry["image_index"], str):
            raise BuildError(f"{source}: image_index must be a string as generate_zip.py writes it")
    return manifest


def find_entry(manifest: dict[str, Any], *, image_index: int, names: tuple[str, ...]) -> str | None:
    """The zip member of image *image_index* (by ``image_index``, else by file name)."""
    files = manifest["files"]
    if any("image_index" in e for e in files):
        match = [e for e in files if e.get("image_index") == str(image_index)]
        return str(match[0]["file"]) if match else None
    by_name = [e for e in files if e["file"] in names]
    if by_name:
        return str(by_name[0]["file"])
    return str(files[0]["file"]) if len(files) == 1 and image_index == 0 else None


def rewrite(zip_path: Path, replacements: list[Replacement], modtime: int) -> RewrittenZip:
    """Build the new zip and manifest in memory (the caller writes them atomically)."""
    manifest = load_manifest(zip_path)
    by_old = {r.old_name: r for r in replacements}
    for entry in manifest["files"]:
        rep = by_old.get(entry["file"])
        if rep is None:
            continue
        entry["size"] = len(rep.data)
        entry["file"] = rep.new_name
        entry["modtime"] = modtime
    missing = set(by_old) - {r.old_name for r in replacements if _listed(manifest, r.new_name)}
    if missing:
        raise BuildError(f"{zip_path}: no manifest entry for {', '.join(sorted(missing))}")
    text = json.dumps(manifest, indent=4)
    out = io.BytesIO()
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename == MANIFEST_NAME:
                dst.writestr(_copy_info(info, MANIFEST_NAME), text)
            elif info.filename in by_old:
                rep = by_old[info.filename]
                dst.writestr(_copy_info(info, rep.new_name), rep.data)
            else:
                # Untouched members keep their bytes, compression and timestamps.
                dst.writestr(info, src.read(info.filename))
    return RewrittenZip(zip_bytes=out.getvalue(), manifest_text=text, manifest=manifest)


def _listed(manifest: dict[str, Any], name: str) -> bool:
    return any(e["file"] == name for e in manifest["files"])


def _copy_info(info: zipfile.ZipInfo, name: str) -> zipfile.ZipInfo:
    new = zipfile.ZipInfo(name, date_time=info.date_time)
    new.compress_type = info.compress_type
    new.external_attr = info.external_attr
    return new
