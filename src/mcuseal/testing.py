"""Helpers for testing plugins: the engine conformance check and sample inputs.

Vendors run :func:`check_engine_conformance` in their own test suites::

    from mcuseal.testing import check_engine_conformance
    from mcuseal_otfad.engine import OtfadEngine

    def test_conformance() -> None:
        check_engine_conformance(OtfadEngine)

It raises :class:`AssertionError` listing every breach of the contract it found.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable, Iterable

from mcuseal.errors import DumpFormatError, EngineUnsupported, McusealError
from mcuseal.plugins.manager import EngineRegistry
from mcuseal.plugins.types import (
    Artifact,
    EncryptionEngine,
    Inspection,
    OutputFile,
    SlotLayout,
    XipRequest,
    XipResult,
)

#: A layout every engine should accept: the RW612/RT1060 shape at a neutral base.
SAMPLE_LAYOUT = SlotLayout(
    flash_base=0x6000_0000,
    slot0_addr=0x6004_0000,
    slot1_addr=0x6024_0000,
    slot_size=0x20_0000,
    sector_size=0x1000,
    page_size=0x100,
    meta0_addr=0x6044_0000,
    meta1_addr=0x6044_1000,
)


def sample_image(size: int = 0x2000) -> bytes:
    """Deterministic plain image bytes (a multiple of 16 bytes)."""
    return bytes(range(256)) * (size // 256) + bytes(size % 256)


def engine_from_defaults(engine: type[EncryptionEngine], *argv: str) -> EncryptionEngine:
    """Build *engine* through its own ``add_arguments``/``from_args`` pair."""
    parser = argparse.ArgumentParser(prog=f"conformance-{engine.name}")
    engine.add_arguments(parser.add_argument_group(engine.name))
    return engine.from_args(parser.parse_args(list(argv)))


def check_engine_conformance(
    engine: type[EncryptionEngine],
    *,
    argv: Iterable[str] = (),
    layout: SlotLayout = SAMPLE_LAYOUT,
    dumps: Iterable[bytes] = (),
) -> None:
    """Check that *engine* keeps the plugin contract.

    :param engine: the engine class.
    :param argv: options to pass through its ``add_arguments``/``from_args`` (for
        engines that need a key to build anything).
    :param layout: the slot layout to build for.
    :param dumps: extra byte strings the engine's dump parser must survive.
    :raises AssertionError: listing every problem found.
    """
    problems: list[str] = []
    try:
        engine.check_class()
    except ValueError as err:
        raise AssertionError(str(err)) from None

    registry = EngineRegistry()
    try:
        registry.add(engine)
    except McusealError as err:
        problems.append(f"registry refuses it: {err}")

    instance = engine_from_defaults(engine, *argv)
    if not isinstance(instance, engine):
        problems.append(f"from_args returned {type(instance).__name__}, not {engine.__name__}")

    built: list[XipResult] = []
    for mode in sorted(engine.caps.modes, key=lambda m: m.value):
        for image in (None, sample_image()):
            request = XipRequest(layout=layout, mode=mode, image=image)
            _check_build(instance, request, problems, built)

    if engine.caps.parses_dumps:
        noise = hashlib.sha256(b"mcuseal conformance").digest() * 10  # fixed, not random
        samples = [b"", bytes(16), b"\xff" * 512, noise, *dumps]
        samples += [f.data for r in built for f in r.files]
        for data in samples:
            _check_inspect(instance.inspect, data, problems)
        for result in built:
            for f in result.files:
                if f.name.endswith("_cfg.bin") or f.name.startswith("metadata"):
                    verdict = instance.inspect(f.data)
                    if not verdict.valid:
                        problems.append(
                            f"inspect() rejects its own {f.name}: {'; '.join(verdict.problems)}"
                        )
    else:
        try:
            instance.inspect(b"")
            problems.append("caps.parses_dumps is False but inspect() returned")
        except EngineUnsupported:
            pass

    if problems:
        raise AssertionError(
            f"engine {engine.name!r} breaks the contract:\n- " + "\n- ".join(problems)
        )


def _check_build(
    instance: EncryptionEngine,
    request: XipRequest,
    problems: list[str],
    built: list[XipResult],
) -> None:
    caps = instance.caps
    what = f"build(mode={request.mode.value}, image={'yes' if request.image else 'no'})"
    try:
        result = instance.build(request)
    except EngineUnsupported as err:
        if Artifact.ENCRYPTED_DATA in caps.host and request.image is not None:
            problems.append(f"{what} refused although caps say ENCRYPTED_DATA is host-made: {err}")
        return
    except McusealError as err:
        problems.append(f"{what} raised {type(err).__name__}: {err}")
        return
    if not isinstance(result, XipResult):
        problems.append(f"{what} returned {type(result).__name__}, not XipResult")
        return
    names = [f.name for f in result.files]
    if len(set(names)) != len(names):
        problems.append(f"{what} returned duplicate file names {names}")
    for f in result.files:
        if not isinstance(f, OutputFile) or not isinstance(f.data, bytes):
            problems.append(f"{what} returned a file that is not OutputFile with bytes: {f!r}")
    if caps.device_only and not any(caps.device_only_reason in n for n in result.notes):
        problems.append(f"{what}: notes do not repeat caps.device_only_reason")
    built.append(result)


def _check_inspect(
    inspect: Callable[[bytes], Inspection], data: bytes, problems: list[str]
) -> None:
    try:
        verdict = inspect(data)
    except DumpFormatError:
        return
    except Exception as err:
        problems.append(
            f"inspect({len(data)} bytes) raised {type(err).__name__} instead of DumpFormatError"
        )
        return
    if not isinstance(verdict, Inspection):
        problems.append(f"inspect() returned {type(verdict).__name__}, not Inspection")


__all__ = [
    "SAMPLE_LAYOUT",
    "check_engine_conformance",
    "engine_from_defaults",
    "sample_image",
]
