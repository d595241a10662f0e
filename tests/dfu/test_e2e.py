"""End to end with real tools: imgtool-signed images, ``mcuseal dfu --hci`` over the
virtual BLE link, and a bootloader stand-in that checks signatures with ``imgtool verify``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mcuseal.cli import main
from mcuseal.dfu.sim import BootVerdict, SimConfig
from tests.dfu.conftest import RunningSim

IMGTOOL = str(Path(sys.executable).with_name("imgtool"))


class ImgtoolVerify:
    """Accept an image only if ``imgtool verify`` accepts its hash and signature."""

    def __init__(self, public_key: Path, workdir: Path) -> None:
        self.public_key = public_key
        self.workdir = workdir
        self.calls = 0

    def check(self, image: bytes, *, image_index: int, slot: int) -> BootVerdict:
        self.calls += 1
        path = self.workdir / f"slot-{self.calls}.bin"
        path.write_bytes(image)
        done = subprocess.run(
            [IMGTOOL, "verify", "--key", str(self.public_key), str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            return BootVerdict(True, "valid", image)
        return BootVerdict(False, "imgtool verify refused the image")


@pytest.fixture
def signing(tmp_path: Path) -> Callable[[str, int, bool], Path]:
    """``sign(version, size, foreign)`` -> an imgtool-signed image (P-256)."""
    keys = {}
    for name in ("ours", "foreign"):
        key = ec.generate_private_key(ec.SECP256R1())
        path = tmp_path / f"{name}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        keys[name] = path

    def sign(version: str, size: int, foreign: bool = False) -> Path:
        raw = tmp_path / f"{version}-{foreign}.raw"
        raw.write_bytes(os.urandom(size))
        out = tmp_path / f"{version}-{foreign}.signed.bin"
        key = keys["foreign" if foreign else "ours"]
        cmd = [IMGTOOL, "sign", "--key", str(key), "--header-size", "0x200", "--pad-header"]
        cmd += ["--align", "4", "--version", version, "--slot-size", "0x80000", str(raw), str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        return out

    sign.public = tmp_path / "ours.pub.pem"  # type: ignore[attr-defined]
    subprocess.run(
        [IMGTOOL, "getpub", "--key", str(keys["ours"]), "--encoding", "pem"],
        check=True,
        stdout=sign.public.open("w"),  # type: ignore[attr-defined]
    )
    return sign


def test_signed_update_over_virtual_ble(
    sim_thread: Callable[..., RunningSim],
    signing: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = signing("1.0.0", 4000), signing("1.1.0+3", 30_000)
    check = ImgtoolVerify(signing.public, tmp_path)  # type: ignore[attr-defined]
    sim = sim_thread(ble_name="fota", boot_check=check, primary=[old.read_bytes()])
    hci = ["--hci", f"tcp-client:127.0.0.1:{sim.hci_port}", "--name", "fota"]
    assert main(["dfu", *hci, "-q", "upload", str(new), "--swap-wait", "0.4"]) == 0
    assert main(["dfu", "--udp", sim.udp, "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"version": "1.1.0.3"' in out and '"confirmed"' in out
    assert check.calls >= 1


def test_an_image_signed_with_another_key_is_refused(
    sim_thread: Callable[..., RunningSim],
    signing: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, rogue = signing("1.0.0", 4000), signing("2.0.0", 8000, True)
    check = ImgtoolVerify(signing.public, tmp_path)  # type: ignore[attr-defined]
    sim = sim_thread(SimConfig(), boot_check=check, primary=[old.read_bytes()])
    code = main(["dfu", "--udp", sim.udp, "upload", str(rogue), "--swap-wait", "0.4"])
    assert code == 1
    assert "does not run image 0" in capsys.readouterr().err
    running = sim.call(lambda: sim.device.running(0))
    assert running is not None and running.version_str == "1.0.0"
