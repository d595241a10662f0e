"""Fixtures for DFU client tests: the virtual device (``mcuseal.dfu.sim``) on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcuseal.dfu.sim import BootVerdict, SimConfig, VirtualDevice
from mcuseal.dfu.soak import HashOnlyCheck

#: the bootloader stand-in of these tests: it checks the image's hash TLV
HashCheck = HashOnlyCheck

IMGTOOL = str(Path(sys.executable).with_name("imgtool"))


class ImgtoolCheck:
    """A BootCheck backed by real ``imgtool verify`` (plaintext images only).

    The independent oracle beside mcuseal's own :class:`~mcuseal.dfu.sim.McubootCheck`:
    hash and signature with the given public key.
    """

    def __init__(self, public_key: Path, workdir: Path) -> None:
        self.public_key = public_key
        self.workdir = workdir
        self.calls = 0

    def check(self, image: bytes, *, image_index: int, slot: int) -> BootVerdict:
        self.calls += 1
        path = self.workdir / f"check-{self.calls}.bin"
        path.write_bytes(image)
        result = subprocess.run(
            [IMGTOOL, "verify", "--key", str(self.public_key), str(path)],
            capture_output=True,
            text=True,
        )
        if result.returncode == 0:
            return BootVerdict(True, "imgtool verify: valid", image)
        reason = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["invalid"]
        return BootVerdict(False, f"imgtool verify: {reason[0]}")


@dataclass
class RunningSim:
    """A virtual device served over UDP from its own thread and event loop."""

    device: VirtualDevice
    port: int
    loop: asyncio.AbstractEventLoop
    hci_port: int | None = None

    @property
    def udp(self) -> str:
        return f"127.0.0.1:{self.port}"

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run *fn* on the device's loop (the device is not thread-safe)."""
        result: Future[Any] = Future()

        def run() -> None:
            try:
                result.set_result(fn())
            except Exception as err:
                result.set_exception(err)

        self.loop.call_soon_threadsafe(run)
        return result.result(timeout=10)


@pytest.fixture
def sim_thread() -> Iterator[Callable[..., RunningSim]]:
    """``start(config, primary=(...))`` serves a virtual device until the test ends."""
    stops: list[Callable[[], None]] = []

    def start(
        config: SimConfig | None = None, *, ble_name: str | None = None, **kwargs: Any
    ) -> RunningSim:
        ready: Future[RunningSim] = Future()
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()

        async def serve() -> None:
            kwargs.setdefault("boot_check", HashCheck())
            async with VirtualDevice(config or SimConfig(), **kwargs) as device:
                _, port = await device.serve_udp("127.0.0.1", 0)
                hci_port = None
                if ble_name is not None:
                    _, hci_port = await device.serve_hci_tcp("127.0.0.1", 0, name=ble_name)
                ready.set_result(RunningSim(device, port, loop, hci_port))
                await stop.wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
        thread.start()

        def halt() -> None:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=10)
            loop.close()

        stops.append(halt)
        return ready.result(timeout=10)

    yield start
    for halt in stops:
        halt()
