"""Key providers: the registry, plugins through ``mcuseal.key_providers``, and the CLI."""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mcuseal.cli import main
from mcuseal.errors import KeyError_
from mcuseal.image.crypto import CryptographySigner
from mcuseal.keys import providers
from mcuseal.keys.providers import (
    GROUP,
    FileKeyProvider,
    KeyOptions,
    KeyProvider,
    KeyProviderRegistry,
    Pkcs11KeyProvider,
    build_registry,
)
from mcuseal.plugins import hookimpl
from tests.plugins.conftest import FakeDist, FakeEntryPoint, fake_dists  # noqa: F401

# A stand-in for a cloud KMS: its keys live in this process, never in a file.
_KMS_KEYS: dict[str, ec.EllipticCurvePrivateKey] = {}
_CLOSED: list[str] = []


class FakeKms(KeyProvider):
    name = "fakekms"
    schemes = ("fakekms",)

    def open_signer(self, ref: str, options: KeyOptions) -> Any:
        key = _KMS_KEYS[ref.partition(":")[2]]
        signer = CryptographySigner(key)
        signer.close = lambda: _CLOSED.append(ref)  # type: ignore[attr-defined]
        return signer

    def load_public_key(self, ref: str, options: KeyOptions) -> Any:
        return _KMS_KEYS[ref.partition(":")[2]].public_key()


def _plugin(*provider: type[KeyProvider], fail: bool = False) -> types.SimpleNamespace:
    @hookimpl
    def mcuseal_register_key_providers(registry: KeyProviderRegistry) -> None:
        for cls in provider:
            registry.add(cls)
        if fail:
            raise RuntimeError("plugin bug")

    return types.SimpleNamespace(mcuseal_register_key_providers=mcuseal_register_key_providers)


def _dist(name: str, plugin: object) -> FakeDist:
    return FakeDist(name, [FakeEntryPoint(name, lambda: plugin, group=GROUP)])


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    providers.default_registry.cache_clear()
    yield
    providers.default_registry.cache_clear()


def test_builtins_without_plugins() -> None:
    registry = build_registry(load_external=False)
    assert list(registry) == ["file", "pkcs11"]
    assert isinstance(registry.for_ref("keys/sign.pem"), FileKeyProvider)
    assert isinstance(registry.for_ref("PKCS11:token=a"), Pkcs11KeyProvider)
    assert isinstance(registry.for_ref("C:\\keys\\sign.pem"), FileKeyProvider)


def test_unknown_scheme_is_named(tmp_path: Path) -> None:
    registry = build_registry(load_external=False)
    with pytest.raises(KeyError_, match=r"no key provider serves 'awskms:' key references"):
        registry.for_ref("awskms:alias/release")
    odd = tmp_path / "awskms:file.pem"  # an existing file wins over a look-alike scheme
    odd.write_text("x")
    assert isinstance(registry.for_ref(str(odd)), FileKeyProvider)


def test_plugin_provider_registered(fake_dists: list[FakeDist]) -> None:  # noqa: F811
    fake_dists.append(_dist("fake-kms", _plugin(FakeKms)))
    registry = build_registry()
    assert isinstance(registry.for_ref("fakekms:release"), FakeKms)
    assert registry.skipped == ()


@pytest.mark.parametrize(
    ("plugin", "reason"),
    [
        (_plugin(FakeKms, fail=True), "RuntimeError: plugin bug"),
        (_plugin(type("Taken", (FakeKms,), {"name": "taken", "schemes": ("pkcs11",)})), "pkcs11"),
        (_plugin(type("Dup", (FakeKms,), {"name": "file", "schemes": ()})), "already"),
        (_plugin(type("Bad", (FakeKms,), {"name": "Bad Name"})), "short lowercase"),
        (_plugin(object), "not a KeyProvider class"),  # type: ignore[arg-type]
    ],
)
def test_broken_plugins_are_skipped(
    fake_dists: list[FakeDist],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    plugin: object,
    reason: str,
) -> None:
    fake_dists.append(_dist("broken-kms", plugin))
    with caplog.at_level(logging.WARNING):
        registry = build_registry()
    assert list(registry) == ["file", "pkcs11"]  # the half-registered provider is dropped
    assert [s.entry_point for s in registry.skipped] == ["broken-kms"]
    assert reason in registry.skipped[0].reason
    assert "broken-kms" in caplog.text


def test_disabled_plugin(
    fake_dists: list[FakeDist],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCUSEAL_DISABLE_PLUGINS", "fake-kms")
    fake_dists.append(_dist("fake-kms", _plugin(FakeKms)))
    registry = build_registry()
    assert "fakekms" not in registry
    assert "disabled by MCUSEAL_DISABLE_PLUGINS" in registry.skipped[0].reason


def test_cli_signs_through_a_plugin_provider(
    fake_dists: list[FakeDist],  # noqa: F811
    fresh_registry: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_dists.append(_dist("fake-kms", _plugin(FakeKms)))
    _KMS_KEYS["release"] = ec.generate_private_key(ec.SECP256R1())
    app, image = tmp_path / "app.bin", tmp_path / "signed.bin"
    app.write_bytes(os.urandom(1000))
    slot = ["--pad-header", "-H", "0x200", "-S", "0x10000", "-v", "1.0.0"]
    assert main(["sign", "-k", "fakekms:release", *slot, str(app), str(image)]) == 0
    assert _CLOSED == ["fakekms:release"]  # the signer's session was released
    assert main(["verify", str(image), "-k", "fakekms:release"]) == 0
    capsys.readouterr()
    assert main(["getpub", "-k", "fakekms:release", "-e", "pem"]) == 0
    assert capsys.readouterr().out.startswith("-----BEGIN PUBLIC KEY-----")
