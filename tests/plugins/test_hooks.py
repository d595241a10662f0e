"""Every hookspec is exercised here (``test_hook_<name>``) and documented (meta-tests)."""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

import pytest

from mcuseal.plugins import EngineRegistry, build_manager, hookimpl, spec
from tests.plugins.conftest import FakeDist, FakeEntryPoint
from tests.plugins.test_manager import DemoEngine

DOCS = Path(__file__).resolve().parents[2] / "docs" / "xip-plugins.md"
HOOKS = sorted(n for n in dir(build_manager(load_external=False).pm.hook) if not n.startswith("_"))


def test_hook_mcuseal_register_engines(fake_dists: list[FakeDist]) -> None:
    calls: list[EngineRegistry] = []

    @hookimpl
    def mcuseal_register_engines(registry: EngineRegistry) -> None:
        calls.append(registry)
        registry.add(DemoEngine)

    plugin = types.SimpleNamespace(mcuseal_register_engines=mcuseal_register_engines)
    fake_dists.append(FakeDist("vendor-demo", [FakeEntryPoint("demo", lambda: plugin)]))
    manager = build_manager()
    assert len(calls) == 1 and isinstance(calls[0], EngineRegistry)
    assert manager.get("demo") is DemoEngine
    # Called once per manager, not once per process.
    build_manager()
    assert len(calls) == 2


def test_spec_module_defines_the_hooks_the_manager_knows() -> None:
    specs = sorted(n for n, f in vars(spec).items() if n.startswith("mcuseal_") and callable(f))
    assert specs == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    assert callable(getattr(sys.modules[__name__], f"test_hook_{hook}", None)), (
        f"add test_hook_{hook} to {__file__}"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook: str) -> None:
    func = getattr(spec, hook)
    sig = inspect.signature(func, eval_str=False)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    heading = f"### `{hook}({params}) -> {sig.return_annotation}`"
    headings = re.findall(r"^### .*$", DOCS.read_text(encoding="utf-8"), flags=re.M)
    assert heading in headings, f"{DOCS.name} needs the heading {heading!r}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_docstring_states_when_params_and_result(hook: str) -> None:
    doc = inspect.getdoc(getattr(spec, hook)) or ""
    assert "Called" in doc and ":param" in doc and ":return:" in doc


def test_hook_mcuseal_register_key_providers(fake_dists: list[FakeDist]) -> None:
    # The provider-side behaviour (skips, schemes, CLI use) is in tests/keys/test_providers.py.
    from mcuseal.keys.providers import build_registry
    from tests.keys.test_providers import FakeKms, _dist, _plugin

    fake_dists.append(_dist("vendor-kms", _plugin(FakeKms)))
    registry = build_registry()
    assert isinstance(registry.for_ref("fakekms:key/1"), FakeKms)
    assert registry.providers["fakekms"].plugin == "vendor-kms"
    assert registry.providers["fakekms"].distribution == "vendor-kms"
    assert set(registry) == {"fakekms", "file", "pkcs11"}
