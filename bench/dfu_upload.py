"""Upload throughput: mcuseal's pipelined engine vs smpclient's stop-and-wait ``upload()``.

Both clients upload the same 1 MiB image, in the same run, to a fresh virtual device
(``mcuseal.dfu.sim``) over UDP on 127.0.0.1 with the device's latency model: every
response is delayed by L ms without holding up later requests (a radio connection
interval), and optionally every request takes T ms of device time, one at a time (a busy
flash).  Both clients use the same frame size (``buf_size``; the UDP MTU is raised so
a datagram carries a whole frame, as BLE reassembly would).

The model's ceiling for a window W and frame payload D is
``min(W * D / (L + T), D / T)``; each row reports the measured rate against it.

``--link ble`` runs the same comparison over the device's BLE side instead: bumble
virtual controllers on an in-process link, MTU 498, smpclient's ``SMPBumbleTransport``
against mcuseal's bleak transport on the bumble backend.  bumble's pure-Python host
and controller (27-byte LL packets) make that link CPU-bound, so only the ratio means
something there, not the share of the ceiling.

Run::

    .venv/bin/python bench/dfu_upload.py            # the default matrix
    .venv/bin/python bench/dfu_upload.py --json     # machine-readable rows
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass

from smpclient import SMPClient
from smpclient.transport.udp import SMPUDPTransport

from mcuseal.dfu.link import DeviceLink
from mcuseal.dfu.sim import SimConfig, VirtualDevice
from mcuseal.dfu.soak import synthetic_image
from mcuseal.dfu.transport.udp import IPV4_UDP_OVERHEAD, udp_connector
from mcuseal.dfu.upload import UploadOptions, max_chunk_size, upload

MIB = 1024 * 1024


def make_image(size: int) -> bytes:
    """An MCUboot-shaped image of *size* bytes (header, body, SHA-256 TLV)."""
    return synthetic_image(size, (1, 0, 0, 0), b"bench")


@dataclass
class Row:
    latency_ms: float
    service_ms: float
    buf_count: int
    window: int
    frame_payload: int
    smpclient_kBps: float
    mcuseal_kBps: float
    speedup: float
    ceiling_kBps: float
    of_ceiling: float
    smpclient_ceiling_kBps: float


def ceiling(window: int, payload: int, latency_s: float, service_s: float) -> float:
    """Bytes per second the latency/service model allows."""
    pipelined = window * payload / (latency_s + service_s)
    return min(pipelined, payload / service_s) if service_s > 0 else pipelined


async def _device(config: SimConfig) -> tuple[VirtualDevice, int]:
    device = VirtualDevice(config)
    await device.__aenter__()
    _, port = await device.serve_udp("127.0.0.1", 0)
    return device, port


async def run_smpclient(config: SimConfig, image: bytes) -> float:
    device, port = await _device(config)
    try:
        transport = SMPUDPTransport(mtu=config.buf_size + IPV4_UDP_OVERHEAD)
        client = SMPClient(transport, "127.0.0.1", timeout_s=5.0)
        # SMPClient.connect() has no port argument: connect the transport, then let the
        # client read the MCUmgr parameters as connect() would.
        await transport.connect("127.0.0.1", 5.0, port=port)
        await client._initialize()
        start = time.perf_counter()
        async for offset in client.upload(image):
            last = offset
        elapsed = time.perf_counter() - start
        assert last == len(image)
        await client.disconnect()
    finally:
        await device.aclose()
    return len(image) / elapsed


async def run_mcuseal(config: SimConfig, image: bytes, window: int) -> tuple[float, int]:
    device, port = await _device(config)
    try:
        mtu = config.buf_size + IPV4_UDP_OVERHEAD
        link = DeviceLink(udp_connector("127.0.0.1", port, mtu=mtu), frame_cap=config.buf_size)
        async with link:
            result = await upload(link, image, options=UploadOptions(window=window))
        assert device.secondary(0) is not None
    finally:
        await device.aclose()
    return len(image) / result.elapsed_s, result.window


async def run_smpclient_ble(config: SimConfig, image: bytes) -> float:
    from smpclient.transport.bumble import SMPBumbleTransport

    async with VirtualDevice(config) as device:
        peripheral = await device.serve_ble(name="bench")
        central = await peripheral.central()
        connection = await central.connect(peripheral.address)
        transport = SMPBumbleTransport(preferred_mtu=498)
        await transport.use_connection(connection)
        client = SMPClient(transport, str(peripheral.address), timeout_s=5.0)
        await client._initialize()
        start = time.perf_counter()
        async for offset in client.upload(image):
            last = offset
        elapsed = time.perf_counter() - start
        assert last == len(image)
        await transport.disconnect()
    return len(image) / elapsed


async def run_mcuseal_ble(config: SimConfig, image: bytes, window: int) -> tuple[float, int]:
    from mcuseal.dfu.transport.hci import BumbleHost, hci_connector

    async with VirtualDevice(config) as device:
        peripheral = await device.serve_ble(name="bench")
        host = BumbleHost.attached(await peripheral.central())
        connect = hci_connector(host, address=str(peripheral.address), timeout_s=5.0)
        async with DeviceLink(connect) as link:
            result = await upload(link, image, options=UploadOptions(window=window))
    return len(image) / result.elapsed_s, result.window


async def measure(
    image: bytes,
    latency_ms: float,
    service_ms: float,
    buf_size: int,
    buf_count: int,
    window: int,
    link: str = "udp",
) -> Row:
    config = SimConfig(
        buf_size=buf_size,
        buf_count=buf_count,
        latency_s=latency_ms / 1000,
        service_time_s=service_ms / 1000,
        udp_mtu=buf_size + IPV4_UDP_OVERHEAD,
    )
    if link == "ble":
        theirs = await run_smpclient_ble(config, image)
        ours, used_window = await run_mcuseal_ble(config, image, window)
    else:
        theirs = await run_smpclient(config, image)
        ours, used_window = await run_mcuseal(config, image, window)
    payload = max_chunk_size(buf_size, {"off": 0x10000})
    top = ceiling(used_window, payload, latency_ms / 1000, service_ms / 1000)
    return Row(
        latency_ms=latency_ms,
        service_ms=service_ms,
        buf_count=buf_count,
        window=used_window,
        frame_payload=payload,
        smpclient_kBps=round(theirs / 1000, 1),
        mcuseal_kBps=round(ours / 1000, 1),
        speedup=round(ours / theirs, 2),
        ceiling_kBps=round(top / 1000, 1),
        of_ceiling=round(ours / top, 3),
        smpclient_ceiling_kBps=round(ceiling(1, payload, latency_ms / 1000, 0) / 1000, 1),
    )


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=MIB, help="image size (1 MiB)")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[15.0, 30.0])
    parser.add_argument("--service-ms", type=float, nargs="+", default=[0.0])
    parser.add_argument("--buf-size", type=int, default=2475)
    parser.add_argument("--buf-count", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--window", type=int, default=8, help="mcuseal --window")
    parser.add_argument("--link", choices=("udp", "ble"), default="udp")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    image = make_image(args.size)
    rows = []
    for latency in args.latency_ms:
        for service in args.service_ms:
            for count in args.buf_count:
                row = await measure(
                    image, latency, service, args.buf_size, count, args.window, args.link
                )
                rows.append(row)
                if not args.json:
                    print(
                        f"L={row.latency_ms:g} ms T={row.service_ms:g} ms "
                        f"buf_count={row.buf_count} W={row.window}: "
                        f"smpclient {row.smpclient_kBps} kB/s, mcuseal {row.mcuseal_kBps} kB/s "
                        f"({row.speedup}x); ceiling {row.ceiling_kBps} kB/s "
                        f"({row.of_ceiling:.0%} reached)",
                        flush=True,
                    )
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
