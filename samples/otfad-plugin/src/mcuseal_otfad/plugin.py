"""The module the ``mcuseal.engines`` entry point names: one hook implementation."""

from __future__ import annotations

from mcuseal.plugins import EngineRegistry, hookimpl
from mcuseal_otfad.engine import OtfadEngine


@hookimpl
def mcuseal_register_engines(registry: EngineRegistry) -> None:
    registry.add(OtfadEngine)
