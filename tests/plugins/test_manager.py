"""Loading plugins: entry points, blocking, broken third-party plugins."""

from __future__ import annotations

import logging
import types

import pytest

from mcuseal.errors import EngineError, EngineNotFound
from mcuseal.plugins import (
    EncryptionEngine,
    EngineCaps,
    EngineRegistry,
    XipRequest,
    XipResult,
    build_manager,
    hookimpl,
)
from mcuseal.plugins.types import Artifact
from tests.plugins.conftest import FakeDist, FakeEntryPoint

# Pinned: the engines mcuseal itself ships.
BUILTINS = {"bee", "iped", "npx"}


class DemoEngine(EncryptionEngine):
    name = "demo"
    description = "a test engine"
    caps = EngineCaps(host=frozenset({Artifact.KEYS}))

    def build(self, request: XipRequest) -> XipResult:
        return XipResult(facts=(("slot0", hex(request.layout.slot0_addr)),))


def plugin_module(*engines: type[EncryptionEngine]) -> types.SimpleNamespace:
    @hookimpl
    def mcuseal_register_engines(registry: EngineRegistry) -> None:
        for engine in engines:
            registry.add(engine)

    return types.SimpleNamespace(mcuseal_register_engines=mcuseal_register_engines)


def fake_plugin(dist: str, name: str, *engines: type[EncryptionEngine]) -> FakeDist:
    return FakeDist(dist, [FakeEntryPoint(name, lambda: plugin_module(*engines))])


def test_builtins_come_through_the_entry_point_group() -> None:
    manager = build_manager(load_external=False)
    builtins = {n for n, info in manager.engines.items() if info.builtin}
    assert builtins == BUILTINS
    for name in BUILTINS:
        info = manager.engines[name]
        assert info.distribution == "mcuseal"
        assert manager.pm.has_plugin(name)


def test_each_call_builds_a_fresh_manager() -> None:
    assert build_manager().pm is not build_manager().pm


def test_third_party_plugin_is_loaded(fake_dists: list[FakeDist]) -> None:
    fake_dists.append(fake_plugin("vendor-demo", "demo", DemoEngine))
    manager = build_manager()
    info = manager.engines["demo"]
    assert (info.engine, info.distribution, info.builtin) == (DemoEngine, "vendor-demo", False)
    assert set(manager.names()) >= BUILTINS


def test_load_external_false_ignores_third_party(fake_dists: list[FakeDist]) -> None:
    fake_dists.append(fake_plugin("vendor-demo", "demo", DemoEngine))
    assert "demo" not in build_manager(load_external=False).engines


def _boom() -> object:
    raise ImportError("No module named 'vendor_sdk'")


class NoNameEngine(DemoEngine):
    name = "Not OK"


def _bad_hook() -> object:
    @hookimpl
    def mcuseal_register_engines(registry: EngineRegistry, extra: int) -> None:
        pass

    return types.SimpleNamespace(mcuseal_register_engines=mcuseal_register_engines)


def _unknown_hook() -> object:
    @hookimpl
    def mcuseal_register_gizmos(registry: EngineRegistry) -> None:
        pass

    return types.SimpleNamespace(mcuseal_register_gizmos=mcuseal_register_gizmos)


def _raising_hook() -> object:
    @hookimpl
    def mcuseal_register_engines(registry: EngineRegistry) -> None:
        registry.add(DemoEngine)
        raise RuntimeError("vendor bug")

    return types.SimpleNamespace(mcuseal_register_engines=mcuseal_register_engines)


class OtherDemo(DemoEngine):
    """Same name as DemoEngine, from another plugin."""


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (_boom, "import of 'fake.module:plugin' failed: ImportError"),
        (lambda: plugin_module(NoNameEngine), "must be 2-16 characters"),
        (_bad_hook, "invalid hook implementation"),
        (_unknown_hook, "unknown hook"),
        (_raising_hook, "RuntimeError: vendor bug"),
        (lambda: plugin_module(OtherDemo), "already registered by plugin 'good' (vendor-good)"),
    ],
    ids=["import", "contract", "signature", "unknown-hook", "raises", "duplicate"],
)
def test_broken_plugin_is_reported_and_skipped(
    fake_dists: list[FakeDist], caplog: pytest.LogCaptureFixture, target: object, reason: str
) -> None:
    fake_dists.append(FakeDist("vendor-broken", [FakeEntryPoint("broken", target)]))  # type: ignore[arg-type]
    fake_dists.append(fake_plugin("vendor-good", "good", DemoEngine))
    if "already" in reason:
        fake_dists.reverse()  # load the good plugin first: it must keep "demo"
    with caplog.at_level(logging.WARNING, logger="mcuseal"):
        manager = build_manager()
    assert BUILTINS | {"demo"} <= set(manager.names())
    assert manager.engines["demo"].distribution == "vendor-good"
    [skipped] = manager.skipped
    assert (skipped.entry_point, skipped.distribution) == ("broken", "vendor-broken")
    assert reason in skipped.reason
    assert "plugin 'broken' from vendor-broken skipped" in caplog.text
    assert reason in caplog.text


def test_disable_plugins_env_blocks_by_name(
    fake_dists: list[FakeDist], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dists.append(fake_plugin("vendor-demo", "demo", DemoEngine))
    fake_dists.append(fake_plugin("vendor-two", "two", TwoEngine))
    monkeypatch.setenv("MCUSEAL_DISABLE_PLUGINS", " demo, nothing ")
    manager = build_manager()
    names = set(manager.names())
    assert BUILTINS | {"two"} <= names and "demo" not in names
    with pytest.raises(EngineNotFound, match="disabled by MCUSEAL_DISABLE_PLUGINS"):
        manager.get("demo")


class TwoEngine(DemoEngine):
    name = "two"


def test_unknown_engine_lists_registered_ones(fake_dists: list[FakeDist]) -> None:
    fake_dists.append(fake_plugin("vendor-two", "two", TwoEngine))
    with pytest.raises(EngineNotFound, match=r"no engine 'otfadx'; registered engines: .*two"):
        build_manager().get("otfadx")


def test_registry_rejects_non_engines_and_duplicates() -> None:
    registry = EngineRegistry()
    registry.add(DemoEngine)
    with pytest.raises(EngineError, match="already registered"):
        registry.add(DemoEngine)
    with pytest.raises(EngineError, match="not an EncryptionEngine class"):
        registry.add(object)  # type: ignore[arg-type]


def test_caps_are_checked() -> None:
    with pytest.raises(ValueError, match="both host and device_only"):
        EngineCaps(
            host=frozenset({Artifact.KEYS}),
            device_only=frozenset({Artifact.KEYS}),
            device_only_reason="x",
        )
    with pytest.raises(ValueError, match="needs a device_only_reason"):
        EngineCaps(host=frozenset(), device_only=frozenset({Artifact.KEYS}))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sector_size": 0}, "not a power of two"),
        ({"page_size": 0x3000}, "not a power of two"),
        ({"slot_size": 0x1800}, "whole number"),
        ({"slot0_addr": 0x6004_0100}, "not sector aligned"),
        ({"meta0_addr": 0x100}, "below the flash base"),
    ],
)
def test_slot_layout_is_checked(kwargs: dict[str, int], message: str) -> None:
    from dataclasses import replace

    from mcuseal.errors import UsageError
    from mcuseal.testing import SAMPLE_LAYOUT

    with pytest.raises(UsageError, match=message):
        replace(SAMPLE_LAYOUT, **kwargs)
