"""Encryption-engine plugins for NXP encrypted XIP with MCUboot.

Plugin authors need :data:`hookimpl`, :class:`EncryptionEngine` and the dataclasses
below; see ``docs/xip-plugins.md``.  Built-in engines (``bee``, ``iped``, ``npx``) are
registered through the same ``mcuseal.engines`` entry-point group as third-party ones.
"""

from __future__ import annotations

from mcuseal.plugins.manager import (
    DISABLE_ENV,
    GROUP,
    EngineManager,
    EngineRegistry,
    SkippedPlugin,
    build_manager,
)
from mcuseal.plugins.spec import hookimpl
from mcuseal.plugins.types import (
    Artifact,
    EncryptionEngine,
    EngineCaps,
    EngineInfo,
    Inspection,
    OutputFile,
    SlotLayout,
    XipMode,
    XipRequest,
    XipResult,
)

__all__ = [
    "DISABLE_ENV",
    "GROUP",
    "Artifact",
    "EncryptionEngine",
    "EngineCaps",
    "EngineInfo",
    "EngineManager",
    "EngineRegistry",
    "Inspection",
    "OutputFile",
    "SkippedPlugin",
    "SlotLayout",
    "XipMode",
    "XipRequest",
    "XipResult",
    "build_manager",
    "hookimpl",
]
