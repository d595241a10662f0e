"""The device's BLE side: a GATT peripheral with Zephyr's SMP service on a bumble link.

The peripheral is a bumble host stack on its own virtual controller attached to a
bumble ``LocalLink``.  Clients reach it either in-process (their own bumble controller
on the same link) or through :func:`serve_hci_tcp`, which serves one more controller
on the link as HCI over TCP so an unmodified host stack (``tcp-client:HOST:PORT``)
drives it exactly as it would drive a USB dongle.

What it reproduces of Zephyr's ``smp_bt.c`` (with ``CONFIG_MCUMGR_TRANSPORT_BT_REASSEMBLY``):

* service ``8D53DC1D-...``, one characteristic ``DA2E7828-...`` with
  Write Without Response and Notify (plus its CCC);
* ATT MTU up to 498 (``BT_L2CAP_TX_MTU``), 23 if the client never exchanges MTUs;
* one reassembly context: the first fragment must carry a whole header, a frame whose
  header announces more than ``buf_size`` is dropped, so is a fragment that
  overflows the frame, and so is everything when no net_buf is free -- silently, as a
  Write Command cannot carry an ATT error back;
* responses notified in chunks of ATT MTU - 3, each response starting a notification;
* a reset drops the connection and the device advertises again once it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Any, Final

from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import Address, HCI_Disconnect_Command, HCI_ErrorCode, OwnAddressType
from bumble.host import Host
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink, StreamPacketSource

from mcuseal.dfu.smpframe import HEADER_SIZE, SmpHeader

if TYPE_CHECKING:
    from mcuseal.dfu.sim._device import VirtualDevice

SMP_SERVICE_UUID: Final = "8D53DC1D-1DB7-4CD3-868B-8A527460AA84"
SMP_CHARACTERISTIC_UUID: Final = "DA2E7828-FBCE-4E01-AE9E-261174997C48"
#: ``CONFIG_BT_L2CAP_TX_MTU`` of NCS's high-throughput SMP sample.
MAX_ATT_MTU: Final = 498


def _static_address() -> Address:
    # A fresh random static address per device: hosts that keep bonds across runs
    # (smpclient's default keystore is a file in /tmp) must not mistake one virtual
    # device for another.
    raw = bytearray(secrets.token_bytes(6))
    raw[0] |= 0xC0
    return Address(":".join(f"{b:02X}" for b in raw), Address.RANDOM_DEVICE_ADDRESS)


def advertising_payloads(name: str) -> tuple[bytes, bytes]:
    """Advertising data and scan response for *name* (31 bytes each at most).

    Zephyr's smp_svr advertises flags and the SMP service UUID and puts the name in the
    scan response.  bumble's virtual controller hands scanners the advertising data in
    place of the scan response, so the name must be in the advertising data itself to
    be found by name: it goes first, then the SMP UUID and the flags as room allows;
    the scan response carries the complete name as on a real device.
    """
    encoded = name.encode()
    # Shorten on a character boundary: a scanner decodes the name as UTF-8.
    short = encoded[:29].decode("utf-8", "ignore").encode()
    if len(encoded) <= 29:
        first = (AdvertisingData.COMPLETE_LOCAL_NAME, encoded)
    else:
        first = (AdvertisingData.SHORTENED_LOCAL_NAME, short)
    items = [first]
    used = 2 + len(first[1])
    for extra in (
        (
            AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            bytes(UUID(SMP_SERVICE_UUID)),
        ),
        (AdvertisingData.FLAGS, bytes([0x06])),  # LE general discoverable, no BR/EDR
    ):
        if used + 2 + len(extra[1]) <= 31:
            items.append(extra)
            used += 2 + len(extra[1])
    return bytes(AdvertisingData(items)), bytes(AdvertisingData([first]))


class _DisplayPasskey(PairingDelegate):
    """The device side of passkey entry: it displays, the user types it on the host."""

    def __init__(self, device: VirtualDevice) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY)
        self._device = device

    async def display_number(self, number: int, digits: int) -> None:
        self._device.emit("passkey", {"passkey": f"{number:0{digits}d}"})


class _Reassembly:
    """Zephyr's single ``smp_reassembly`` context for the BLE transport."""

    def __init__(self, device: VirtualDevice) -> None:
        self._device = device
        self._buf: bytearray | None = None
        self._expected = 0

    def drop(self) -> None:
        if self._buf is not None:
            self._buf = None
            self._device.release_buffer()

    def collect(self, fragment: bytes) -> bytes | None:
        """Add one ATT write; return the frame it completes, or None."""
        device = self._device
        if self._buf is None:
            if len(fragment) < HEADER_SIZE:
                device.emit("drop", {"why": "fragment shorter than a header"})
                return None
            expected = SmpHeader.loads(fragment).frame_size
            limit = device.config.buf_size
            if len(fragment) > limit or expected > limit:
                device.emit("drop", {"why": "frame larger than net_buf", "size": expected})
                return None
            if len(fragment) > expected:
                device.emit("drop", {"why": "fragment overflows frame"})
                return None
            if not device.take_buffer():
                device.emit("drop", {"why": "no free net_buf", "size": expected})
                return None
            self._buf = bytearray()
            self._expected = expected
        if len(fragment) > self._expected:
            device.emit("drop", {"why": "fragment overflows frame"})
            self.drop()
            return None
        self._buf += fragment
        self._expected -= len(fragment)
        if self._expected:
            return None
        frame = bytes(self._buf)
        self._buf = None
        return frame


class BlePeripheral:
    """The virtual device's BLE peripheral (see the module docstring).

    :param device: the device it serves
    :param name: advertised complete local name
    :param link: the bumble ``LocalLink`` to attach to (a new one if None)
    """

    def __init__(self, device: VirtualDevice, *, name: str, link: LocalLink | None) -> None:
        self.device = device
        self.name = name
        self.link: LocalLink = link if link is not None else LocalLink()  # type: ignore[no-untyped-call]
        self.address = _static_address()
        self.controller = Controller(f"{name}-controller", link=self.link)
        host = Host(
            controller_source=self.controller, controller_sink=AsyncPipeSink(self.controller)
        )
        self.bumble = Device(name=name, address=self.address, host=host)
        self.bumble.gatt_server.max_mtu = MAX_ATT_MTU
        self.characteristic: Characteristic[bytes] = Characteristic(
            SMP_CHARACTERISTIC_UUID,
            Characteristic.Properties.WRITE_WITHOUT_RESPONSE | Characteristic.Properties.NOTIFY,
            Characteristic.Permissions.WRITEABLE,
            CharacteristicValue(write=self._on_write),
        )
        self.bumble.add_service(Service(SMP_SERVICE_UUID, [self.characteristic]))
        self._reassembly = _Reassembly(device)
        self._senders: dict[Connection, asyncio.Queue[bytes | None]] = {}
        self._mitm: dict[Connection, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.bumble.on("connection", self._on_connection)
        if device.config.ble_security == "authen":
            # A Zephyr device built for authenticated pairing shows a passkey.
            self.bumble.pairing_config_factory = lambda _connection: PairingConfig(
                sc=True, mitm=True, bonding=True, delegate=_DisplayPasskey(device)
            )
        self.bumble.on("characteristic_subscription", self._on_subscription)

    async def start(self) -> None:
        await self.bumble.power_on()
        await self._advertise()
        self.device.add_reset_listener(self._going_down, self._advertise)
        self.device.add_closer(self.close)
        self.device.emit("advertise", {"name": self.name, "address": str(self.address)})

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for connection in list(self._senders):
            with contextlib.suppress(Exception):
                await connection.disconnect()
        with contextlib.suppress(Exception):
            await self.bumble.stop_advertising()
        with contextlib.suppress(Exception):
            await self.bumble.power_off()

    async def central(self, *, name: str = "central", address: str = "F0:F1:F2:F3:F4:F5") -> Device:
        """A powered-on bumble host on this peripheral's link, for an in-process central.

        The caller owns it (power it off when done).
        """
        controller = Controller(f"{name}-controller", link=self.link)
        central = Device(
            name=name,
            address=Address(address),
            host=Host(controller_source=controller, controller_sink=AsyncPipeSink(controller)),
        )
        await central.power_on()
        return central

    async def _advertise(self) -> None:
        data, scan = advertising_payloads(self.name)
        if not self.bumble.is_advertising:
            await self.bumble.start_advertising(
                own_address_type=OwnAddressType.RANDOM,
                # 20 ms, the shortest legacy interval: reconnects after a reset are quick.
                advertising_interval_min=20,
                advertising_interval_max=20,
                auto_restart=True,
                advertising_data=data,
                scan_response_data=scan,
            )

    async def _going_down(self) -> None:
        self._reassembly.drop()
        with contextlib.suppress(Exception):
            await self.bumble.stop_advertising()
        for connection in list(self._senders):
            with contextlib.suppress(Exception):
                await connection.disconnect()

    def _on_connection(self, connection: Connection) -> None:
        from mcuseal.dfu.sim._device import Link

        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._senders[connection] = queue

        def reply(frame: bytes) -> None:
            queue.put_nowait(frame)

        def drop_link() -> None:
            self._spawn(connection.disconnect())

        connection.smp_link = Link(reply, drop_link)  # type: ignore[attr-defined]
        task = asyncio.create_task(self._send_loop(connection, queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

        def gone(_reason: int) -> None:
            self._reassembly.drop()
            queue.put_nowait(None)
            self._senders.pop(connection, None)
            self._mitm.pop(connection, None)
            self.device.emit("disconnect", {"peer": str(connection.peer_address)})

        def paired(keys: Any) -> None:
            # bumble calls every encrypted LE link authenticated; Zephyr's AUTHEN needs
            # keys from a MITM-protected pairing (not Just Works).
            ltk = getattr(keys, "ltk", None)
            self._mitm[connection] = bool(ltk is not None and ltk.authenticated)

        connection.on("pairing", paired)
        connection.on("disconnection", gone)
        self.device.emit("connect", {"peer": str(connection.peer_address)})

    def _on_subscription(
        self, connection: Connection, characteristic: Any, notify: bool, indicate: bool
    ) -> None:
        if characteristic is self.characteristic and not notify:
            # smp_bt_ccc_changed: disabling notifications drops a partial frame.
            self._reassembly.drop()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_loop(self, connection: Connection, queue: asyncio.Queue[bytes | None]) -> None:
        while True:
            frame = await queue.get()
            if frame is None:
                return
            chunk = max(20, connection.att_mtu - 3)
            try:
                for start in range(0, len(frame), chunk):
                    await self.bumble.notify_subscriber(
                        connection, self.characteristic, frame[start : start + chunk]
                    )
            except Exception:  # the link went down mid-response; the peer will retry
                return

    def _on_write(self, connection: Connection, value: bytes) -> None:
        link = getattr(connection, "smp_link", None)
        if link is None:
            return
        security = self.device.config.ble_security
        if (security == "encrypt" and not connection.is_encrypted) or (
            security == "authen" and not (connection.is_encrypted and self._mitm.get(connection))
        ):
            # A Write Command cannot carry the ATT error back: the frame is just lost.
            why = "link not encrypted" if security == "encrypt" else "link not authenticated"
            self.device.emit("drop", {"why": why, "size": len(value)})
            return
        frame = self._reassembly.collect(bytes(value))
        if frame is not None:
            self.device.submit_taken(frame, link)


class _HciClient(asyncio.Protocol):
    """One host connected over TCP to the HCI controller (H4 packets both ways).

    bumble's own ``tcp-server`` transport keeps one sink for every client, so a host
    that reconnects right after another left can lose its events to the old client's
    ``connection_lost``.  Here each TCP connection owns its wiring, and a host that goes
    away without disconnecting is treated like an unplugged dongle: its LE links drop
    (supervision timeout) so the device advertises again.
    """

    def __init__(self, controller: Controller, clients: set[_HciClient]) -> None:
        self._controller = controller
        self._clients = clients
        self._transport: asyncio.Transport | None = None
        self._source: StreamPacketSource | None = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._clients.add(self)
        self._transport = transport  # type: ignore[assignment]  # a stream transport
        self._source = StreamPacketSource()
        self._source.set_packet_sink(self._controller)
        # A new host starts from a fresh controller: links of the previous one are gone.
        self._drop_links()
        self._controller.host = self

    def on_packet(self, packet: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(packet)

    def data_received(self, data: bytes) -> None:
        if self._source is not None:
            self._source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._clients.discard(self)
        self._transport = None
        if self._controller.host is not self:
            return
        self._controller.host = None
        self._drop_links()

    def _drop_links(self) -> None:
        for connection in list(self._controller.le_connections.values()):
            self._controller.on_hci_disconnect_command(
                HCI_Disconnect_Command(
                    connection_handle=connection.handle,
                    reason=HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR,
                )
            )


async def serve_hci_tcp(
    device: VirtualDevice, host: str, port: int, *, name: str
) -> tuple[BlePeripheral, int]:
    """Expose *device* over BLE with a virtual controller served as HCI over TCP."""
    from mcuseal.errors import DfuTransportError

    peripheral = await device.serve_ble(name=name)
    controller = Controller(f"{name}-hci-tcp", link=peripheral.link)
    loop = asyncio.get_running_loop()
    clients: set[_HciClient] = set()
    try:
        server = await loop.create_server(lambda: _HciClient(controller, clients), host, port)
    except OSError as err:
        raise DfuTransportError(
            f"cannot serve HCI on tcp {host}:{port}: {err.strerror or err}; pick another port"
        ) from None
    bound = int(server.sockets[0].getsockname()[1])

    async def close() -> None:
        server.close()
        for client in list(clients):
            client.close()
        await server.wait_closed()

    device.add_closer(close)
    device.emit("listen", {"transport": "hci-tcp", "host": host, "port": bound, "name": name})
    return peripheral, bound
