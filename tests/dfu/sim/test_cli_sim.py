"""``mcuseal sim`` from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from smpclient import SMPClient
from smpclient.generics import success
from smpclient.requests.os_management import EchoWrite
from smpclient.transport.udp import SMPUDPTransport

from mcuseal.cli import main


async def test_sim_serves_udp_and_streams_json_events() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcuseal",
        "sim",
        "--udp",
        "127.0.0.1:0",
        "--json",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = None
        while port is None:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
            assert line, "mcuseal sim exited before listening"
            event = json.loads(line)
            if event["event"] == "listen":
                port = event["port"]
        transport = SMPUDPTransport()
        client = SMPClient(transport, "127.0.0.1", timeout_s=3.0)
        await transport.connect("127.0.0.1", 3.0, port=port)
        echo = await client.request(EchoWrite(d="ci"))
        assert success(echo) and echo.r == "ci"
        await client.disconnect()
    finally:
        proc.terminate()
        await proc.wait()


def test_missing_primary_image_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sim", "--udp", "127.0.0.1:0", "--primary", str(tmp_path / "nope.bin")])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot read --primary" in err and len(err.strip().splitlines()) == 1


def test_bad_ble_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "--ble", "usb:0"])
    assert exit_info.value.code == 2
    assert "tcp-server:HOST:PORT" in capsys.readouterr().err
