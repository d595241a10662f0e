"""Fixtures for the virtual device tests: keys and small images signed by real imgtool."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.dfu.conftest import IMGTOOL, ImgtoolCheck


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A P-256 signing key and a P-256 (ECIES-P256) device encryption key, as PEM files.

    imgtool 2.5 only encrypts with the key type it signs with (EC with ECDSA)."""
    root = tmp_path_factory.mktemp("keys")
    sign = ec.generate_private_key(ec.SECP256R1())
    enc = ec.generate_private_key(ec.SECP256R1())
    paths = {
        "sign": root / "sign.pem",
        "sign_pub": root / "sign_pub.pem",
        "enc": root / "enc.pem",
        "enc_pub": root / "enc_pub.pem",
        "other": root / "other.pem",
    }
    other = ec.generate_private_key(ec.SECP256R1())
    paths["other"].write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pkcs8 = serialization.PrivateFormat.PKCS8
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    paths["sign"].write_bytes(sign.private_bytes(pem, pkcs8, none))
    paths["sign_pub"].write_bytes(sign.public_key().public_bytes(pem, spki))
    paths["enc"].write_bytes(enc.private_bytes(pem, pkcs8, none))
    paths["enc_pub"].write_bytes(enc.public_key().public_bytes(pem, spki))
    for name in ("sign", "enc", "other"):
        paths[name].chmod(0o600)
    return paths


MakeImage = Callable[..., Path]


@pytest.fixture(scope="session")
def make_image(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Path]) -> MakeImage:
    """``make_image(version, size=..., encrypt=False, vector=...)`` -> path of a signed image.

    The payload starts with a Cortex-M vector table (stack pointer, reset vector) so
    the NCS reset-vector check sees what a real build would put there.
    """
    root = tmp_path_factory.mktemp("images")

    def make(
        version: str,
        size: int = 6000,
        *,
        encrypt: bool = False,
        vector: int = 0x0000_8001,
        foreign: bool = False,
        pad: str = "",
    ) -> Path:
        """:param pad: "" (no trailer), or imgtool's ``--pad`` alone ("test"), with
        ``--test`` ("test-flag") or with ``--confirm`` ("confirm"): padded to 0x80000."""
        kind = ("enc" if encrypt else "plain") + ("-foreign" if foreign else "") + pad
        name = f"app-{version}-{size}-{kind}-{vector:x}"
        out = root / f"{name}.bin"
        if out.exists():
            return out
        payload = root / f"{name}.raw"
        body = (0x2000_8000).to_bytes(4, "little") + vector.to_bytes(4, "little")
        payload.write_bytes(body + os.urandom(size - len(body)))
        key = keys["other" if foreign else "sign"]
        cmd = [IMGTOOL, "sign", "--key", str(key), "--header-size", "0x200"]
        cmd += ["--pad-header", "--align", "4", "--version", version, "--slot-size", "0x80000"]
        if encrypt:
            cmd += ["--encrypt", str(keys["enc_pub"])]
        cmd += {"": [], "test": ["--pad"], "test-flag": ["--pad", "--test"]}.get(
            pad, ["--pad", "--confirm"]
        )
        subprocess.run([*cmd, str(payload), str(out)], check=True, capture_output=True)
        return out

    return make


@pytest.fixture
def imgtool_check(keys: dict[str, Path], tmp_path: Path) -> ImgtoolCheck:
    return ImgtoolCheck(keys["sign_pub"], tmp_path)


@pytest.fixture(scope="session")
def mcuboot_check(keys: dict[str, Path]) -> object:
    """The device's real validator: mcuseal's image core with the test keys."""
    from mcuseal.dfu.sim import McubootCheck

    return McubootCheck.from_files([keys["sign_pub"]], keys["enc"])


class SimProcess:
    """``python -m mcuseal sim ... --json`` in a subprocess, read event by event."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    async def next_event(self, kind: str, timeout_s: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=timeout_s)
            assert line, f"mcuseal sim exited before a {kind!r} event"
            self.events.append(json.loads(line))
            if self.events[-1]["event"] == kind:
                return self.events[-1]


@pytest.fixture
async def run_sim() -> AsyncIterator[Callable[..., Awaitable[SimProcess]]]:
    """Start ``mcuseal sim`` with extra arguments (``--json`` added); stopped at teardown."""
    started: list[SimProcess] = []

    async def start(*args: str) -> SimProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mcuseal", "sim", *args, "--json", stdout=asyncio.subprocess.PIPE
        )
        started.append(SimProcess(proc))
        return started[-1]

    yield start
    for sim in started:
        if sim.proc.returncode is None:
            sim.proc.terminate()
        await sim.proc.wait()
