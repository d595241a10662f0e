"""``mcuseal dfu`` in-process against the virtual device served from a thread."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mcuseal.cli import main
from mcuseal.dfu.package import load_image
from mcuseal.dfu.sim import SimConfig
from tests.dfu.conftest import RunningSim
from tests.dfu.fakes import fake_image

StartSim = Callable[..., RunningSim]
FAST = ["--timeout", "0.5"]
QUICK_RESET = ["--swap-wait", "0.4", "--reconnect-timeout", "5"]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _events(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_upload_then_list_json(
    sim_thread: StartSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = fake_image(2000, version=(1, 0, 0, 0))
    new = fake_image(30_000, version=(1, 2, 3, 4))
    sim = sim_thread(primary=[old])
    image = _write(tmp_path, "zephyr.signed.bin", new)
    code = main(["dfu", "--udp", sim.udp, *FAST, "--json", "upload", str(image), *QUICK_RESET])
    events = _events(capsys.readouterr().out)
    assert code == 0
    assert events[-1]["event"] == "result"
    assert {"upload-start", "progress", "upload-done", "mark", "reset"} <= {
        e["event"] for e in events
    }

    assert main(["dfu", "--udp", sim.udp, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["images"]
    slot0 = next(i for i in listed if i["slot"] == 0)
    assert slot0["version"] == "1.2.3.4"
    assert slot0["hash"] == load_image(new, name="new").hash.hex()
    assert {"active", "confirmed"} <= set(slot0["flags"])


def test_zip_with_two_images(
    sim_thread: StartSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_thread(SimConfig(images=2))
    app, net = fake_image(20_000, version=(3, 0, 0, 0)), fake_image(9000, version=(3, 0, 0, 1))
    archive = tmp_path / "dfu_application.zip"
    manifest = {
        "format-version": 1,
        "files": [
            {"type": "application", "image_index": "0", "file": "app.bin", "size": len(app)},
            {"type": "application", "image_index": "1", "file": "net.bin", "size": len(net)},
        ],
        "name": "demo",
    }
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("manifest.json", json.dumps(manifest))
        z.writestr("app.bin", app)
        z.writestr("net.bin", net)
    assert main(["dfu", "--udp", sim.udp, *FAST, "-q", "upload", str(archive), *QUICK_RESET]) == 0
    assert capsys.readouterr().out == ""
    running = sim.call(lambda: (sim.device.running(0), sim.device.running(1)))
    assert [r.version_str for r in running] == ["3.0.0", "3.0.0.1"]


def test_human_output_shows_progress_and_result(
    sim_thread: StartSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_thread()
    image = _write(tmp_path, "app.bin", fake_image(10_000, version=(4, 5, 6, 0)))
    assert main(["dfu", "--udp", sim.udp, *FAST, "upload", str(image), *QUICK_RESET]) == 0
    out = capsys.readouterr().out
    assert "image 0: running 4.5.6 (bootable confirmed active)" in out
    assert "done" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00" * 100, "not an MCUboot image"),
        (b"PK\x03\x04junk", "not a zip archive"),
        (b"", "too short"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = _write(tmp_path, "bad.bin", content)
    assert main(["dfu", "--udp", "127.0.0.1:9", "upload", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_image_bigger_than_the_slot_is_bad_input(
    sim_thread: StartSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_thread(SimConfig(slot_size=0x4000))
    image = _write(tmp_path, "big.bin", fake_image(0x5000))
    assert main(["dfu", "--udp", sim.udp, *FAST, "--quiet", "upload", str(image)]) == 2
    err = capsys.readouterr().err
    assert "INVALID_IMAGE_TOO_LARGE" in err and len(err.strip().splitlines()) == 1


def test_missing_device_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dfu", "list"]) == 2
    assert "no device" in capsys.readouterr().err


def test_silent_udp_peer_is_a_transport_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet:
        quiet.bind(("127.0.0.1", 0))
        port = quiet.getsockname()[1]
        assert main(["dfu", "--udp", f"127.0.0.1:{port}", "--timeout", "0.2", "list"]) == 3
    err = capsys.readouterr().err
    assert "no answer from the device" in err and len(err.strip().splitlines()) == 1
    assert "in 5 tries of 0.2 s" in err  # the time it really waited


def test_closed_udp_port_is_one_line_exit_3() -> None:
    # Nothing listens: each request draws an ICMP port unreachable, which smpclient logs
    # as warnings (a subprocess: pytest's own log handlers would hide them in-process).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(("127.0.0.1", 0))
        port = gone.getsockname()[1]
    cmd = [sys.executable, "-m", "mcuseal", "dfu", "--udp", f"127.0.0.1:{port}"]
    result = subprocess.run(
        [*cmd, "--timeout", "0.3", "list"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_transport_libraries_log_only_with_verbose(tmp_path: Path) -> None:
    # bumble logs a traceback per HCI command to a controller that went away; without a
    # handler of its own that reached Python's last-resort handler on stderr.
    names = ("smpclient", "bumble", "bleak", "asyncio")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in names}
    try:
        main(["dfu", "--udp", "127.0.0.1:9", "upload", str(tmp_path / "missing.bin")])
        for name in names:
            peer = logging.getLogger(name)
            assert not peer.propagate
            assert all(isinstance(h, logging.NullHandler) for h in peer.handlers)
        main(["-v", "dfu", "--udp", "127.0.0.1:9", "upload", str(tmp_path / "missing.bin")])
        ours = logging.getLogger("mcuseal").handlers
        assert all(logging.getLogger(n).handlers == ours for n in names)
    finally:
        for name, (handlers, propagate) in saved.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate


def test_params_echo_erase_test_confirm(
    sim_thread: StartSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_thread(SimConfig(buf_size=1024, buf_count=4))
    base = ["dfu", "--udp", sim.udp, *FAST, "--json"]
    assert main([*base, "params"]) == 0
    assert json.loads(capsys.readouterr().out) == {"buf_size": 1024, "buf_count": 4}
    assert main([*base, "echo", "ping"]) == 0
    assert json.loads(capsys.readouterr().out) == {"echo": "ping"}
    new = fake_image(5000, version=(9, 0, 0, 0))
    image = _write(tmp_path, "app.bin", new)
    assert main([*base, "upload", "--upload-only", str(image)]) == 0
    capsys.readouterr()
    digest = load_image(new, name="x").hash.hex()
    assert main([*base, "test", digest]) == 0
    pending = json.loads(capsys.readouterr().out)["images"]
    assert any(i["hash"] == digest and "pending" in i["flags"] for i in pending)
    assert main([*base, "test", "zz"]) == 2
    capsys.readouterr()
    assert main([*base, "erase"]) == 1  # Zephyr refuses to erase a pending slot
    assert "device refused" in capsys.readouterr().err


def test_module_entry_point_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcuseal", "dfu", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "--hci" in done.stdout and "upload" in done.stdout


def test_udp_frames_stay_within_the_mtu(
    sim_thread: StartSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The device truncates datagrams over its 600-byte MTU, as Zephyr's UDP transport
    # does: the upload only completes if every frame fits in MTU - 28 bytes.
    sim = sim_thread(SimConfig(udp_mtu=600))
    image = _write(tmp_path, "app.bin", fake_image(20_000, version=(6, 0, 0, 0)))
    args = ["dfu", "--udp", sim.udp, "--mtu", "600", *FAST, "--json"]
    assert main([*args, "upload", "--upload-only", str(image)]) == 0
    start = next(e for e in _events(capsys.readouterr().out) if e["event"] == "upload-start")
    assert start["frame_size"] == 572
