"""End to end without hardware: signed (imgtool) and sealed (``mcuseal seal``) images go
through ``mcuseal dfu --hci`` over the virtual BLE link to a virtual device whose boot check
is ``imgtool verify`` or the MCUboot model with the device's keys.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mcuseal.cli import main
from mcuseal.dfu.package import load_path
from mcuseal.dfu.sim import BootVerdict, McubootCheck, SimConfig
from tests.dfu.conftest import IMGTOOL, ImgtoolCheck, RunningSim


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
    check = ImgtoolCheck(signing.public, tmp_path)  # type: ignore[attr-defined]
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
    check = ImgtoolCheck(signing.public, tmp_path)  # type: ignore[attr-defined]
    sim = sim_thread(SimConfig(), boot_check=check, primary=[old.read_bytes()])
    code = main(["dfu", "--udp", sim.udp, "upload", str(rogue), "--swap-wait", "0.4"])
    assert code == 1
    assert "does not run image 0" in capsys.readouterr().err
    running = sim.call(lambda: sim.device.running(0))
    assert running is not None and running.version_str == "1.0.0"


REPO = Path(__file__).resolve().parents[2]
DEV_KEYS = REPO / "samples" / "keys"


class PerImageCheck:
    """Image 0 validated by *app*, image 1 by *net*."""

    def __init__(self, app: McubootCheck, net: McubootCheck) -> None:
        self.app, self.net = app, net

    def check(self, image: bytes, *, image_index: int, slot: int) -> BootVerdict:
        chosen = self.net if image_index == 1 else self.app
        return chosen.check(image, image_index=image_index, slot=slot)


@pytest.fixture
def sealed_build(tmp_path: Path) -> Callable[[str], Path]:
    """``seal(sample)``: a copy of a sample build directory after ``mcuseal seal --encrypt``."""
    top = tmp_path / "ws"
    (top / ".west").mkdir(parents=True)
    (top / ".west" / "config").write_text("[manifest]\npath = mcuseal\nfile = west.yml\n")
    (top / "mcuseal").mkdir()
    (top / "mcuseal" / "samples").symlink_to(REPO / "samples")

    def seal(sample: str) -> Path:
        build = top / "builds" / sample
        shutil.copytree(REPO / "samples" / sample / "build", build, symlinks=True)
        assert main(["seal", "-d", str(build), "--encrypt", "--allow-dev-keys", "--json"]) == 0
        return build

    return seal


@pytest.mark.parametrize(
    ("sample", "images"),
    [("d_zephyr41_nrf52840", 1), ("b_ncs27_nrf5340_simultaneous", 2)],
)
def test_sealed_build_over_virtual_ble(
    sim_thread: Callable[..., RunningSim],
    sealed_build: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    sample: str,
    images: int,
) -> None:
    """Sample build, ``mcuseal seal``, ``mcuseal dfu`` over BLE, MCUboot decrypts."""
    build = sealed_build(sample)
    capsys.readouterr()
    check = PerImageCheck(
        McubootCheck.from_files(
            [DEV_KEYS / "sample-sign-ec-p256.pem"], DEV_KEYS / "sample-enc-ec256-priv.pem"
        ),
        # The sample's net-core image carries only a hash TLV, as the sample generator
        # says NCS's b0 signing makes it: check that image for its hash alone.
        McubootCheck([], None),
    )
    sim = sim_thread(SimConfig(images=images), ble_name="sealed", boot_check=check)
    hci = ["--hci", f"tcp-client:127.0.0.1:{sim.hci_port}", "--name", "sealed"]
    code = main(["dfu", *hci, "--json", "upload", str(build), "--swap-wait", "0.4"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    uploaded = load_path(build)
    assert sorted(result["uploaded"]) == [str(i.image) for i in uploaded]
    assert uploaded[0].encrypted
    running = sim.call(lambda: [sim.device.running(i.image) for i in uploaded])
    assert [r.hash if r else None for r in running] == [i.hash for i in uploaded]
