"""``mcuseal sim`` from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from smpclient import SMPClient
from smpclient.generics import success
from smpclient.requests.os_management import EchoWrite
from smpclient.transport.udp import SMPUDPTransport

from mcuseal.cli import main


async def test_sim_serves_udp_and_streams_json_events(run_sim: Any) -> None:
    sim = await run_sim("--udp", "127.0.0.1:0")
    port = (await sim.next_event("listen"))["port"]
    transport = SMPUDPTransport()
    client = SMPClient(transport, "127.0.0.1", timeout_s=3.0)
    await transport.connect("127.0.0.1", 3.0, port=port)
    echo = await client.request(EchoWrite(d="ci"))
    assert success(echo) and echo.r == "ci"
    await client.disconnect()


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


async def test_sim_serves_ble_as_hci_over_tcp(run_sim: Any) -> None:
    from smpclient.transport.bumble import SMPBumbleTransport

    sim = await run_sim("--ble", "tcp-server:127.0.0.1:0", "--name", "rehearsal")
    listen = await sim.next_event("listen")
    assert listen["transport"] == "hci-tcp"
    transport = SMPBumbleTransport(hci=f"tcp-client:127.0.0.1:{listen['port']}")
    client = SMPClient(transport, "rehearsal", timeout_s=5.0)
    await client.connect(connect_timeout_s=10.0)
    try:
        echo = await client.request(EchoWrite(d="ble"))
        assert success(echo) and echo.r == "ble"
    finally:
        await client.disconnect()
