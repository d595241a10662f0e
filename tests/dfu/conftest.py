"""Fixtures for DFU client tests: the virtual device (``mcuseal.dfu.sim``) on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest

from mcuseal.dfu.package import IMAGE_HEADER, load_image
from mcuseal.dfu.sim import BootVerdict, SimConfig, VirtualDevice


class HashCheck:
    """A BootCheck that accepts an image whose SHA-256 TLV matches its header and body.

    Signature and decryption checks belong to the virtual device's own tests (with real
    keys); the DFU client only needs a bootloader that refuses a corrupted image.
    """

    def check(self, image: bytes, *, image_index: int, slot: int) -> BootVerdict:
        try:
            info = load_image(image, name="slot")
        except Exception as err:
            return BootVerdict(False, f"not an image: {err}")
        _, _, hdr_size, prot_size, img_size, *_ = IMAGE_HEADER.unpack_from(image)
        covered = image[: hdr_size + img_size + prot_size]
        if hashlib.sha256(covered).digest() != info.hash:
            return BootVerdict(False, "hash mismatch")
        return BootVerdict(True, "ok", image)


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
