"""``mcuseal demo``: under a pseudo-terminal, as JSON events, and the hazard replay.

Each run generates its keys, seals the bundled nRF5340 build and updates a virtual
MCUboot device over an in-process virtual BLE link (a few seconds).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest

from mcuseal.cli import main

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
WORKDIR = re.compile(r"work directory: (\S+)")


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _run_in_pty(args: list[str], cwd: Path, timeout_s: float = 90.0) -> tuple[int, str]:
    """Run ``python -m mcuseal ARGS`` on a 160x50 pseudo-terminal; return (exit, output)."""
    import fcntl

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcuseal", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=cwd,
        env=env,
        close_fds=True,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminal")
def test_demo_on_a_terminal_ends_with_the_closing_table(tmp_path: Path) -> None:
    code, out = _run_in_pty(["demo"], tmp_path)
    assert code == 0, out
    assert "DEMO KEYS" in out
    assert "preflight passed" in out
    table = out[out.index("what the device runs now") :]
    app = next(line for line in table.splitlines() if "peripheral_lbs" in line)
    net = next(line for line in table.splitlines() if "ipc_radio" in line)
    # before, after, encrypted, verdict, state, in the table's cells
    assert re.search(r"1\.0\.0\s*│\s*1\.2\.3\.4\s*│\s*yes\s*│", app), app
    assert re.search(r"1\.0\.0\s*│\s*1\.1\.0\s*│\s*no\s*│", net), net
    assert "accepted: valid (decrypted with the" in app
    assert app.rstrip().rstrip("│").strip().endswith("confirmed"), app
    assert net.rstrip().rstrip("│").strip().endswith("confirmed"), net
    assert re.search(r"\d+\.\d kB/s", app)
    assert "done in" in out
    # Nothing left behind: not in the working directory, not the temporary directory.
    assert list(tmp_path.iterdir()) == []
    workdir = WORKDIR.search(out)
    assert workdir is not None and not Path(workdir.group(1)).exists()


def test_demo_json_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--json"]) == 0
    events = _events(capsys.readouterr().out)
    kinds = [e["event"] for e in events]
    for kind in ("demo-keys", "preflight", "seal", "device-start", "reset", "reconnect", "done"):
        assert kind in kinds, kinds
    assert kinds[-1] == "result"
    assert kinds.index("demo-keys") < kinds.index("seal") < kinds.index("upload-start")
    assert kinds.index("reset") < kinds.index("reconnect") < kinds.index("result")
    assert "DEMO KEYS" in events[kinds.index("demo-keys")]["label"]
    assert [e["image"] for e in events if e["event"] == "upload-done"] == [0, 1]
    assert [e["image"] for e in events if e["event"] == "mark"] == [0, 1]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and progress[-1]["offset"] == progress[-1]["size"]
    verdicts = [e for e in events if e["event"] == "device" and e["device_event"] == "verdict"]
    assert [(v["image"], v["accepted"]) for v in verdicts] == [(0, True), (1, True)]
    result = events[-1]
    assert result["ok"] is True
    app, net = result["images"]
    assert (app["version_before"], app["version_after"], app["encrypted"]) == (
        "1.0.0",
        "1.2.3.4",
        True,
    )
    assert (net["version_before"], net["version_after"], net["encrypted"]) == (
        "1.0.0",
        "1.1.0",
        False,
    )
    assert app["state"] == net["state"] == "confirmed"
    assert "decrypted with the device key" in app["verdict"]
    assert all(len(row["hash"]) == 64 and row["size"] > 0 for row in (app, net))
    assert list(tmp_path.iterdir()) == []
    workdir = Path(events[kinds.index("demo-keys")]["signing"]).parents[1]
    assert not workdir.exists()


def test_show_hazard_replays_the_misroute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--show-hazard", "--json"]) == 0
    events = _events(capsys.readouterr().out)
    preflight = next(e for e in events if e["event"] == "preflight")
    assert preflight["ok"] is False
    routed = [e for e in events if e.get("device_event") == "netcore-route"]
    assert len(routed) == 1
    assert int(routed[0]["reset_vector"], 16) > int(routed[0]["b0n_addr"], 16) == 0x01008800
    result = events[-1]
    assert result["event"] == "result" and result["as_intended"] is True
    assert result["misrouted"] is True and result["running_after"] == "1.0.0"
    assert result["prevented_by"]["code"] == "nrf5340-reset-vector"
    assert "does not run image 0" in result["dfu_error"]
    assert list(tmp_path.iterdir()) == []


def test_show_hazard_without_a_terminal(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcuseal", "demo", "--show-hazard"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "handed image 0 to the NETWORK CORE" in done.stdout
    assert "error [nrf5340-reset-vector]" in done.stdout
    assert "replay complete" in done.stdout
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
