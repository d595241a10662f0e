"""BLE through bumble's host stack on an HCI controller, behind bleak's client API.

``--hci usb:0`` (a USB HCI dongle such as an nRF52840 running Zephyr's ``hci_usb``) or
``--hci tcp-client:HOST:PORT`` (an HCI controller served over TCP, e.g. the virtual
device's) bypasses the OS Bluetooth stack, its MTU choices and its pairing agents.

Rather than a second SMP transport, this module is a bleak *backend*:
:class:`BumbleBleakClient` implements bleak's ``BaseBleakClient`` on a bumble
:class:`~bumble.device.Device`, so the same :class:`~mcuseal.dfu.transport.ble.BleTransport`
(frame splitting, write sizing, pairing messages) runs on either stack, and the tests
exercise exactly the path a dongle user runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, Final

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bumble.core import UUID as BumbleUUID
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt import GATT_DEVICE_NAME_CHARACTERISTIC, GATT_GENERIC_ACCESS_SERVICE
from bumble.hci import Address
from bumble.transport import open_transport
from smpclient.transport import SMP_SERVICE_UUID

from mcuseal.dfu.link import Connector
from mcuseal.dfu.transport.ble import PAIRING_HINT, BleTransport, ScanResult, explain
from mcuseal.errors import DfuTransportError

_log = logging.getLogger(__name__)

#: the ATT MTU Nordic's high-throughput recipe configures (2 LL PDUs of 251 B)
PREFERRED_MTU: Final = 498
HOST_ADDRESS: Final = "F0:F1:F2:F3:F4:F5"
#: how long to wait for a nameless SMP device's scan response before asking it its name
NAME_SCAN_S: Final = 0.3

_PROPERTY_NAMES: Final = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


class BumbleHost:
    """One bumble host stack on one HCI controller, shared by scans and connections.

    :param spec: a bumble transport name: ``usb:0``, ``tcp-client:127.0.0.1:9000`` ...
    """

    def __init__(self, spec: str, *, address: str = HOST_ADDRESS) -> None:
        self.spec = spec
        self._address = address
        self._transport: Any = None
        self.device: Device | None = None
        self._owned = True
        #: name -> address of devices found by name, so a reconnect skips the search
        self._known: dict[str, str] = {}

    @classmethod
    def attached(cls, device: Device) -> BumbleHost:
        """Wrap a powered-on bumble *device* the caller owns (e.g. on a ``LocalLink``)."""
        host = cls("attached")
        host.device = device
        host._owned = False
        return host

    async def start(self) -> Device:
        """Open the controller and power the host on (idempotent)."""
        if self.device is not None:
            return self.device
        try:
            self._transport = await open_transport(self.spec)
        except Exception as err:
            raise DfuTransportError(
                f"cannot open HCI controller {self.spec!r}: {err}; use usb:N for a USB "
                "dongle or tcp-client:HOST:PORT"
            ) from None
        device = Device.with_hci(
            "mcuseal", Address(self._address), self._transport.source, self._transport.sink
        )
        try:
            await device.power_on()
        except Exception as err:
            await self.close()
            raise DfuTransportError(f"HCI controller {self.spec!r} did not start: {err}") from None
        self.device = device
        return device

    async def close(self) -> None:
        if not self._owned:
            return
        device, self.device = self.device, None
        if device is not None:
            with contextlib.suppress(Exception):
                await device.power_off()
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close()

    async def _scan(
        self, duration_s: float, stop_when: Callable[[ScanResult], bool] | None = None
    ) -> dict[str, ScanResult]:
        device = await self.start()
        seen: dict[str, ScanResult] = {}
        done = asyncio.Event()
        target = BumbleUUID(str(SMP_SERVICE_UUID))

        def on_advertisement(advertisement: Advertisement) -> None:
            data = advertisement.data
            name = data.get(data.COMPLETE_LOCAL_NAME) or data.get(data.SHORTENED_LOCAL_NAME)
            uuids: list[Any] = []
            for kind in (
                data.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                data.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            ):
                found: Any = data.get(kind)
                uuids.extend(found or [])
            address = str(advertisement.address)
            previous = seen.get(address)
            result = ScanResult(
                address,
                str(name) if name else (previous.name if previous else None),
                advertisement.rssi,
            )
            if target in uuids or previous is not None:
                seen[address] = result
                if stop_when is not None and stop_when(result):
                    done.set()

        device.on("advertisement", on_advertisement)
        try:
            await device.start_scanning(filter_duplicates=False)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), duration_s)
        finally:
            device.remove_listener("advertisement", on_advertisement)
            with contextlib.suppress(Exception):
                await device.stop_scanning()
        return seen

    async def scan(self, duration_s: float) -> list[ScanResult]:
        """Devices advertising the SMP service, strongest first."""
        seen = await self._scan(duration_s)
        return sorted(seen.values(), key=lambda r: -(r.rssi if r.rssi is not None else -999))

    async def find(self, name: str | None, address: str | None, timeout_s: float) -> str:
        """Return the address of the device named *name* (or *address* as it is).

        Zephyr's SMP samples put the name in the scan response, which some controllers
        (bumble's virtual one among them) never deliver; SMP devices seen without a name
        are then asked for their GAP Device Name over a short connection.
        """
        if address:
            return address
        if name in self._known:
            return self._known[name]
        found = await self._search(name, timeout_s)
        if name is not None:
            self._known[name] = found
        return found

    def forget(self, name: str | None) -> None:
        """Drop the remembered address of *name* (after a failed connection)."""
        if name is not None:
            self._known.pop(name, None)

    async def _search(self, name: str | None, timeout_s: float) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        first_seen: list[float] = []
        reports: dict[str, int] = {}

        def enough(result: ScanResult) -> bool:
            # Stop at the name; or once an SMP device has sent an advertisement and its
            # scan response (two reports) without it; or after NAME_SCAN_S.
            if result.name == name:
                return True
            reports[result.address] = reports.get(result.address, 0) + 1
            if not first_seen:
                first_seen.append(loop.time())
            return reports[result.address] >= 2 or loop.time() - first_seen[0] >= NAME_SCAN_S

        seen = await self._scan(timeout_s, enough)
        for result in seen.values():
            if result.name == name:
                return result.address
        for result in seen.values():
            remaining = deadline - asyncio.get_running_loop().time()
            if (
                result.name is None
                and remaining > 0
                and await self._gap_name(result.address, remaining) == name
            ):
                return result.address
        raise DfuTransportError(
            f"no BLE device named {name!r} seen on {self.spec} in {timeout_s:g} s; check it "
            "advertises and is in range"
        )

    async def _gap_name(self, address: str, timeout_s: float) -> str | None:
        device = await self.start()
        try:
            connection = await device.connect(Address(address), timeout=timeout_s)
        except Exception as err:
            _log.info("cannot connect to %s to read its name: %s", address, err)
            return None
        try:
            peer = Peer(connection)
            services = await peer.discover_service(GATT_GENERIC_ACCESS_SERVICE)
            for service in services:
                for characteristic in await service.discover_characteristics(
                    [GATT_DEVICE_NAME_CHARACTERISTIC]
                ):
                    value = await peer.read_value(characteristic)
                    return bytes(value).decode("utf-8", "replace")
        except Exception as err:
            _log.info("cannot read the name of %s: %s", address, err)
        finally:
            with contextlib.suppress(Exception):
                await connection.disconnect()
        return None


class BumbleBleakClient(BaseBleakClient):
    """bleak's client backend on a bumble host: pass ``backend=`` and ``bumble_host=``.

    ``BleakClient(address, backend=BumbleBleakClient, bumble_host=host)``
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        bumble_host: BumbleHost,
        preferred_mtu: int = PREFERRED_MTU,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("services", None)
        kwargs.pop("bluez", None)
        kwargs.pop("winrt", None)
        super().__init__(address_or_ble_device, **kwargs)
        self._host = bumble_host
        self._preferred_mtu = preferred_mtu
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[Any], None]] = {}

    @property
    def name(self) -> str:
        return str(self.address)

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        device = await self._host.start()
        connection = await device.connect(Address(str(self.address)), timeout=self._timeout)
        self._connection = connection
        connection.on("disconnection", self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        if pair:
            try:
                await connection.pair()
            except Exception as err:
                with contextlib.suppress(Exception):
                    await connection.disconnect()
                raise DfuTransportError(f"pairing failed ({err}); {PAIRING_HINT}") from None
        with contextlib.suppress(Exception):  # a peer may refuse; 23 still works
            await peer.request_mtu(self._preferred_mtu)
        await peer.discover_services()
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            await service.discover_characteristics()
            bleak_service = BleakGATTService(service, service.handle, str(service.uuid).lower())
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                await peer.discover_descriptors(characteristic)
                props = [name for bit, name in _PROPERTY_NAMES if characteristic.properties & bit]
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    str(characteristic.uuid).lower(),
                    props,  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, str(descriptor.type).lower(), bleak_char
                        )
                    )
        self.services = collection

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        self._peer = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        if self._connection is None:
            raise DfuTransportError("not connected")
        await self._connection.pair()

    async def unpair(self) -> None:
        device = self._host.device
        if device is not None and device.keystore is not None:
            with contextlib.suppress(Exception):
                await device.keystore.delete(str(self.address))

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise DfuTransportError("the BLE link is down")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kw: Any
    ) -> bytearray:
        return bytearray(await self._require_peer().read_value(characteristic.obj))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kw: Any
    ) -> bytearray:
        return bytearray(await self._require_peer().read_value(descriptor.obj))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        await self._require_peer().write_value(
            characteristic.obj, bytes(data), with_response=response
        )

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        await self._require_peer().write_value(descriptor.obj, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        def on_value(value: Any) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        await self._require_peer().subscribe(characteristic.obj, on_value)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if self._peer is not None:
            await self._peer.unsubscribe(characteristic.obj, subscriber)


def bumble_client_class(
    host: BumbleHost, *, preferred_mtu: int = PREFERRED_MTU
) -> Callable[..., BleakClient]:
    """A ``BleakClient`` class bound to *host*, for :class:`BleTransport`'s ``client_class``."""
    return functools.partial(
        BleakClient, backend=BumbleBleakClient, bumble_host=host, preferred_mtu=preferred_mtu
    )


def hci_connector(
    host: BumbleHost,
    *,
    name: str | None = None,
    address: str | None = None,
    timeout_s: float = 10.0,
    pair: bool = False,
) -> Connector:
    """Return a connector reaching *name*/*address* through the bumble *host*.

    :param timeout_s: time to find the device and to connect, each.
    """
    if not (name or address):
        raise DfuTransportError("a BLE device needs --name or --address")

    async def connect() -> BleTransport:
        transport = BleTransport(
            client_class=bumble_client_class(host), finder=host.find, name=name, pair=pair
        )
        try:
            await transport.connect(address or "", timeout_s)
        except Exception as err:
            host.forget(name)
            if isinstance(err, DfuTransportError):
                raise
            raise explain(err, f"connecting over {host.spec}") from None
        return transport

    return connect


async def scan(spec: str, *, duration_s: float = 5.0) -> list[ScanResult]:
    """Scan through the HCI controller *spec* for devices advertising SMP."""
    host = BumbleHost(spec)
    try:
        return await host.scan(duration_s)
    finally:
        await host.close()
