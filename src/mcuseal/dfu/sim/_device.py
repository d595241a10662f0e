"""The virtual MCUboot device: SMP server, net_buf pool, timing and fault model, reset.

Everything runs on the asyncio loop of its owner.  Transports (UDP, BLE) hand whole
request packets to :meth:`VirtualDevice.submit` together with a ``reply`` callable;
the device

1. drops the packet when a fault knob says so (loss, reset in progress, halted);
2. takes one of ``buf_count`` net_bufs, or drops the packet silently when none is
   free (Zephyr's ``smp_packet_alloc`` failing, ``-ENOMEM``);
3. processes requests one at a time on its work queue, each taking
   ``service_time_s`` (a busy device: flash writes), plus ``erase_time_s`` for the
   slot erase the first upload chunk triggers;
4. frees the net_buf and hands each response to the link ``latency_s`` later without
   holding up the next request (a radio connection interval, not a busy device).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcuseal.dfu.sim._imginfo import SlotInfo, read_info
from mcuseal.dfu.sim._mcuboot import BootCheck, BootEvent, ImagePair, StoredImage, boot
from mcuseal.dfu.sim._mgmt import SmpServer, UploadState

#: slot size when none is configured and no padded image has set one
DEFAULT_SLOT_SIZE = 0x200000

#: ``CONFIG_MCUMGR_GRP_OS_RESET_MS`` default: the reply goes out, then the reboot.
RESET_DELAY_S = 0.25

Reply = Callable[[bytes], None]


@dataclass(frozen=True)
class SimConfig:
    """Shape, timing and faults of a virtual device.  Defaults: an unloaded nRF-class
    device with the NCS high-throughput SMP settings.

    :param images: 1 (swap with revert) or 2 (overwrite-only; image 1 = network core)
    :param buf_size: ``CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE`` (frame limit, header included)
    :param buf_count: ``CONFIG_MCUMGR_TRANSPORT_NETBUF_COUNT``
    :param slot_size: size of every image slot in bytes; None: 2 MiB until the first
        upload padded with its own trailer (imgtool ``--pad``) sets the size it was padded to
    :param latency_s: delay added to every response, overlapping later requests
    :param service_time_s: processing time of every request, one request at a time
    :param erase_time_s: time the first upload chunk spends erasing the slot
    :param loss_rate: probability that a request or a response is lost
    :param disconnect_at: upload offsets at which the link drops (once each); over UDP
        the response that crosses the offset is lost
    :param reset_at: upload offsets at which the device resets (once each)
    :param seed: seed of the fault generator, for reproducible runs
    :param netcore_b0n_addr: enable NCS's reset-vector check with this
        ``PM_CPUNET_B0N_ADDRESS`` (one-image layout only)
    :param udp_mtu: ``CONFIG_MCUMGR_TRANSPORT_UDP_MTU``: longer datagrams are truncated
    :param ble_security: what the SMP characteristic requires, as Zephyr's
        ``CONFIG_MCUMGR_TRANSPORT_BT_PERM_RW`` (``none``), ``..._PERM_RW_ENCRYPT``
        (``encrypt``: pairing, Just Works is enough) or ``..._PERM_RW_AUTHEN``
        (``authen``: MITM-protected pairing; the device displays a passkey)
    """

    images: int = 1
    buf_size: int = 2475
    buf_count: int = 6
    slot_size: int | None = None
    latency_s: float = 0.0
    service_time_s: float = 0.0
    erase_time_s: float = 0.0
    loss_rate: float = 0.0
    disconnect_at: tuple[int, ...] = ()
    reset_at: tuple[int, ...] = ()
    seed: int | None = None
    netcore_b0n_addr: int | None = None
    udp_mtu: int = 1500
    ble_security: str = "none"

    def __post_init__(self) -> None:
        from mcuseal.errors import UsageError

        if self.images not in (1, 2):
            raise UsageError(f"--images must be 1 or 2, not {self.images}")
        if self.buf_size < 32:
            raise UsageError(f"buf_size {self.buf_size} is too small for an SMP frame")
        if self.buf_count < 1:
            raise UsageError("buf_count must be at least 1")
        if not 0.0 <= self.loss_rate < 1.0:
            raise UsageError(f"loss rate {self.loss_rate} must be in [0, 1)")
        if self.ble_security not in ("none", "encrypt", "authen"):
            raise UsageError(f"BLE security {self.ble_security!r}: use none, encrypt or authen")
        for name in ("latency_s", "service_time_s", "erase_time_s"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must not be negative")


@dataclass(frozen=True)
class SimEvent:
    """One thing the device did, for logs and the ``--json`` stream.

    :param kind: e.g. ``upload-start``, ``upload-done``, ``pending``, ``reset``,
        ``verdict``, ``swap``, ``revert``, ``overwrite``, ``erase``, ``boot``, ``halt``,
        ``drop``, ``disconnect``
    :param t_s: seconds since the device started
    """

    kind: str
    t_s: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, "t": round(self.t_s, 4)} | self.detail


class Link:
    """What a transport offers the device for one peer: replies and an optional drop."""

    def __init__(self, reply: Reply, disconnect: Callable[[], None] | None = None) -> None:
        self.reply = reply
        self.disconnect = disconnect


class VirtualDevice:
    """A virtual MCUboot device speaking SMP over UDP and BLE.

    Use it as an async context manager::

        async with VirtualDevice(SimConfig(), boot_check=check) as device:
            host, port = await device.serve_udp("127.0.0.1", 0)
            ...

    :param config: shape, timing and fault knobs
    :param boot_check: MCUboot's image validation (see :class:`BootCheck`); None
        makes the bootloader reject every update it is asked to install
    :param primary: images preloaded into the primary slots, by image index
    :param on_event: called with every :class:`SimEvent` as it happens
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        boot_check: BootCheck | None = None,
        primary: Sequence[bytes | None] = (),
        on_event: Callable[[SimEvent], None] | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.boot_check = boot_check
        slot_size = self.config.slot_size
        self.pairs = [
            ImagePair(i, slot_size or DEFAULT_SLOT_SIZE, slot_size_fixed=slot_size is not None)
            for i in range(self.config.images)
        ]
        for index, image in enumerate(primary):
            if image is not None:
                self.pairs[index].primary = StoredImage(stored=image, runnable=image)
        self.events: list[SimEvent] = []
        self._on_event = on_event
        self.server = SmpServer(
            self.pairs,
            buf_size=self.config.buf_size,
            buf_count=self.config.buf_count,
            emit=self.emit,
        )
        self._rng = random.Random(self.config.seed)
        self._disconnect_at = sorted(self.config.disconnect_at)
        self._reset_at = sorted(self.config.reset_at)
        self._last_off = 0  # upload offset after the last processed request
        self._t0 = time.monotonic()
        self._queue: asyncio.Queue[tuple[bytes, Link]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._buffers_in_use = 0
        self._booting = False
        self.halted = False
        self.boot_count = 0
        self._reset_listeners: list[tuple[Callable[[], Any], Callable[[], Any] | None]] = []
        self._closers: list[Callable[[], Any]] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> VirtualDevice:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._work(), name="mcuseal-sim-smp")
        self.emit("power-on", {"images": self.config.images} | self._running_detail())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop serving: close every transport and the work queue."""
        for closer in reversed(self._closers):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        self._closers.clear()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None

    def add_closer(self, closer: Callable[[], Any]) -> None:
        """Register a transport's shutdown (called by the serve functions)."""
        self._closers.append(closer)

    def add_reset_listener(
        self, before: Callable[[], Any], after: Callable[[], Any] | None = None
    ) -> None:
        """Register a transport's reaction to a reset: *before* runs as the device goes
        down (BLE drops its connections), *after* once it runs again (BLE advertises)."""
        self._reset_listeners.append((before, after))

    # -- transports --------------------------------------------------------------------

    async def serve_udp(self, host: str = "127.0.0.1", port: int = 1337) -> tuple[str, int]:
        """Serve SMP over UDP as Zephyr's UDP transport does; return the bound address.

        Pass ``port=0`` to let the OS choose.  The socket stays bound across resets.
        """
        from mcuseal.dfu.sim._udp import serve_udp

        return await serve_udp(self, host, port)

    async def serve_ble(self, link: Any = None, *, name: str = "mcuseal-sim") -> Any:
        """Attach the device's BLE side to a bumble ``LocalLink`` (created if None).

        Returns the :class:`~mcuseal.dfu.sim._ble.BlePeripheral`; its ``link`` is where
        a client-side bumble ``Controller`` attaches, ``address`` is what it connects to.
        """
        from mcuseal.dfu.sim._ble import BlePeripheral

        peripheral = BlePeripheral(self, name=name, link=link)
        await peripheral.start()
        return peripheral

    async def serve_hci_tcp(
        self, host: str = "127.0.0.1", port: int = 0, *, name: str = "mcuseal-sim"
    ) -> tuple[Any, int]:
        """Serve a virtual controller on the device's BLE link as HCI over TCP.

        A host stack (bumble ``tcp-client:HOST:PORT``, smpclient's SMPBumbleTransport,
        ``mcuseal dfu --hci``) connects to the returned port and reaches the device
        through the link.  Returns ``(peripheral, port)``.
        """
        from mcuseal.dfu.sim._ble import serve_hci_tcp

        return await serve_hci_tcp(self, host, port, name=name)

    # -- state -------------------------------------------------------------------------

    def running(self, image: int = 0) -> SlotInfo | None:
        """Version and hash of the image in *image*'s primary slot (what runs)."""
        primary = self.pairs[image].primary
        return read_info(primary.stored) if primary is not None else None

    def secondary(self, image: int = 0) -> SlotInfo | None:
        """Version and hash of *image*'s secondary slot, if it holds an image."""
        return read_info(self.pairs[image].secondary_bytes())

    def _running_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {}
        for pair in self.pairs:
            info = self.running(pair.index)
            detail[f"image{pair.index}"] = info.version_str if info is not None else None
        return detail

    def emit(self, kind: str, detail: dict[str, Any]) -> None:
        """Record a :class:`SimEvent` (transports report their drops and links here)."""
        event = SimEvent(kind, time.monotonic() - self._t0, dict(detail))
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)

    # -- request path ------------------------------------------------------------------

    def submit(self, packet: bytes, link: Link) -> None:
        """Hand one received request packet (a net_buf's worth) to the device."""
        if self._queue is None or self._booting or self.halted:
            return
        if self._lost():
            self.emit("drop", {"why": "loss", "direction": "request", "size": len(packet)})
            return
        if self._buffers_in_use >= self.config.buf_count:
            self.emit("drop", {"why": "no free net_buf", "size": len(packet)})
            return
        self._buffers_in_use += 1
        self._queue.put_nowait((packet, link))

    def take_buffer(self) -> bool:
        """Claim a net_buf for a transport's reassembly; False when the pool is empty."""
        if self._booting or self.halted or self._buffers_in_use >= self.config.buf_count:
            return False
        self._buffers_in_use += 1
        return True

    def release_buffer(self) -> None:
        """Give back a buffer taken by :meth:`take_buffer` without submitting it."""
        self._buffers_in_use = max(0, self._buffers_in_use - 1)

    def submit_taken(self, packet: bytes, link: Link) -> None:
        """Queue a packet whose net_buf was claimed with :meth:`take_buffer`."""
        if self._queue is None or self._booting or self.halted:
            self.release_buffer()
            return
        if self._lost():
            self.release_buffer()
            self.emit("drop", {"why": "loss", "direction": "request", "size": len(packet)})
            return
        self._queue.put_nowait((packet, link))

    def _lost(self) -> bool:
        return self.config.loss_rate > 0 and self._rng.random() < self.config.loss_rate

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            packet, link = await self._queue.get()
            if self.config.service_time_s:
                await asyncio.sleep(self.config.service_time_s)
            if self._booting or self.halted:
                self.release_buffer()
                continue
            effects = self.server.process(packet)
            if effects.erased_bytes and self.config.erase_time_s:
                await asyncio.sleep(self.config.erase_time_s)
            self.release_buffer()
            fault = self._upload_fault()
            if fault == "reset":
                self.emit("fault", {"kind": "reset", "off": self._last_off})
                await self.reset()
                continue
            for response in effects.responses:
                if fault == "disconnect":
                    break
                self._send_later(response, link)
            if fault == "disconnect":
                self.emit("fault", {"kind": "disconnect", "off": self._last_off})
                if link.disconnect is not None:
                    link.disconnect()
            if effects.reset:
                self._schedule(RESET_DELAY_S, lambda: asyncio.ensure_future(self.reset()))

    def _upload_fault(self) -> str | None:
        off = self.server.upload.off
        if self.server.upload.target is None:
            off = 0
        self._last_off = off
        if self._reset_at and off >= self._reset_at[0]:
            self._reset_at.pop(0)
            return "reset"
        if self._disconnect_at and off >= self._disconnect_at[0]:
            self._disconnect_at.pop(0)
            return "disconnect"
        return None

    def _schedule(self, delay_s: float, callback: Callable[[], Any]) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            callback()

        handle = loop.call_later(delay_s, fire)
        self._timers.add(handle)

    def _send_later(self, response: bytes, link: Link) -> None:
        if self._lost():
            self.emit("drop", {"why": "loss", "direction": "response", "size": len(response)})
            return
        if self.config.latency_s:
            self._schedule(self.config.latency_s, lambda: link.reply(response))
        else:
            link.reply(response)

    # -- reset and boot ----------------------------------------------------------------

    async def reset(self) -> None:
        """Reboot: lose RAM state, run MCUboot over the slots, come back (or halt)."""
        if self._booting:
            return
        self._booting = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.emit("reset", {})
        try:
            if self._queue is not None:
                while not self._queue.empty():
                    self._queue.get_nowait()
            self._buffers_in_use = 0
            self.server.upload = UploadState()
            for before, _after in self._reset_listeners:
                result = before()
                if asyncio.iscoroutine(result):
                    await result

            def on_boot(event: BootEvent) -> None:
                self.emit(event.kind, {"image": event.image} | event.detail)

            bootable = boot(
                self.pairs,
                self.boot_check,
                netcore_b0n_addr=self.config.netcore_b0n_addr,
                emit=on_boot,
            )
            self.boot_count += 1
            if not bootable:
                self.halted = True
                return
            self.emit("running", self._running_detail())
        finally:
            self._booting = False
        for _before, after in self._reset_listeners:
            if after is not None:
                result = after()
                if asyncio.iscoroutine(result):
                    await result
