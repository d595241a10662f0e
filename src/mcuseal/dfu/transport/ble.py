"""SMP over BLE with bleak: mcuseal's own ``SMPTransport``.

Why not smpclient's ``SMPBLETransport``: it appends notifications to one buffer and fails
when two responses arrive before ``receive()`` runs, which is the normal case once
requests are pipelined; and it builds ``BleakClient`` inside ``connect()``, so tests can
only reach it by patching module globals.  Here:

* notifications are split into frames by the SMP header's length
  (:class:`mcuseal.dfu.smpframe.FrameAssembler`), so back-to-back responses are fine;
* the ``BleakClient`` class (any callable with its signature, such as
  ``functools.partial(BleakClient, backend=...)``) and the device finder are injected;
* the write size comes from the characteristic, with the BlueZ quirk (bleak reports
  MTU 23 until ``_acquire_mtu``) and the WinRT quirk (20 until the session settles)
  handled as smpclient handles them;
* a link that needs pairing gets a message saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from smpclient.transport import SMP_CHARACTERISTIC_UUID, SMP_SERVICE_UUID, SMPTransportDisconnected

from mcuseal.dfu import smpframe
from mcuseal.dfu.link import Connector
from mcuseal.errors import DfuTransportError

_log = logging.getLogger(__name__)

#: ``BleakClient`` or anything called like it (a partial with ``backend=``).
ClientFactory = Callable[..., BleakClient]
#: Finds the device: ``(name, address, timeout_s) -> BLEDevice or address``.
DeviceFinder = Callable[[str | None, str | None, float], Awaitable["BLEDevice | str"]]

MAC_ADDRESS: Final = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
#: ATT MTU 23 - 3: the write size before any MTU exchange
MIN_WRITE_SIZE: Final = 20

#: what to do when the device wants an encrypted or authenticated link
PAIRING_HINT: Final = (
    "the device requires an encrypted/authenticated link: Zephyr builds with CONFIG_BT_SMP "
    "default to CONFIG_MCUMGR_TRANSPORT_BT_PERM_RW_AUTHEN, which needs MITM (passkey) "
    "pairing. Pair the device with your OS first (bluetoothctl pair, Windows Bluetooth "
    "settings), or build the firmware with CONFIG_MCUMGR_TRANSPORT_BT_PERM_RW=y"
)
_PAIRING_WORDS: Final = ("authentic", "encrypt", "pair", "insufficient", "0x05", "0x0f", "0x0e")


def explain(err: BaseException, doing: str) -> DfuTransportError:
    """Turn a bleak/OS error into a one-line :class:`DfuTransportError`, naming pairing."""
    text = str(err) or type(err).__name__
    if any(word in text.lower() for word in _PAIRING_WORDS):
        return DfuTransportError(f"{doing} failed ({text}); {PAIRING_HINT}")
    return DfuTransportError(f"{doing} failed: {text}")


async def find_device(name: str | None, address: str | None, timeout_s: float) -> BLEDevice:
    """Find a device with the OS's Bluetooth stack, by address or advertised name.

    :raises DfuTransportError: nothing found in *timeout_s*.
    """
    try:
        if address:
            device = await BleakScanner.find_device_by_address(address, timeout=timeout_s)
        else:
            assert name is not None
            device = await BleakScanner.find_device_by_name(name, timeout=timeout_s)
    except Exception as err:  # no adapter, D-Bus down, Bluetooth off: many types
        raise explain(err, "scanning for the device") from None
    if device is None:
        raise DfuTransportError(
            f"no BLE device {address or repr(name)} found in {timeout_s:g} s; check it "
            "advertises (mcuseal dfu scan) and is not connected to another central"
        )
    return device


class BleTransport:
    """An ``SMPTransport`` over the SMP GATT characteristic, driven through bleak.

    :param client_class: builds the ``BleakClient`` (inject a backend here).
    :param finder: resolves ``connect()``'s address (or the name given here) to a device.
    :param name: the advertised name to look for when ``connect()`` gets no address.
    :param pair: pair (bond) on connecting, for firmware that requires an encrypted link.
    """

    _smp_server_transport_buffer_size: int | None = None

    def __init__(
        self,
        *,
        client_class: ClientFactory = BleakClient,
        finder: DeviceFinder = find_device,
        name: str | None = None,
        pair: bool = False,
    ) -> None:
        self._client_class = client_class
        self._pair = pair
        self._finder = finder
        self._name = name
        self._client: BleakClient | None = None
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._assembler = smpframe.FrameAssembler()
        self._write_size = MIN_WRITE_SIZE
        self._send_lock = asyncio.Lock()
        self._connected = False

    # -- SMPTransport -----------------------------------------------------------------

    async def connect(self, address: str, timeout_s: float) -> None:
        """Find and connect to the device, discover SMP, size writes, subscribe.

        :param address: a MAC address / CoreBluetooth UUID, or "" to use the name.
        """
        target = await self._finder(self._name if not address else None, address or None, timeout_s)
        client = self._client_class(
            target,
            disconnected_callback=self._on_disconnect,
            services=[str(SMP_SERVICE_UUID)],
            timeout=timeout_s,
            pair=self._pair,
        )
        try:
            await asyncio.wait_for(client.connect(), timeout_s)
        except asyncio.TimeoutError:
            raise DfuTransportError(
                f"connecting to {target} timed out after {timeout_s:g} s"
            ) from None
        except Exception as err:
            raise explain(err, f"connecting to {target}") from None
        self._client = client
        self._connected = True
        self._assembler.reset()
        characteristic = client.services.get_characteristic(SMP_CHARACTERISTIC_UUID)
        if characteristic is None:
            await self.disconnect()
            raise DfuTransportError(
                f"{target} has no SMP characteristic; enable CONFIG_MCUMGR_TRANSPORT_BT in "
                "the firmware"
            )
        self._write_size = await self._discover_write_size(client, characteristic)
        _log.info("BLE write size %d B", self._write_size)
        try:
            await client.start_notify(characteristic, self._on_notify)
        except Exception as err:
            await self.disconnect()
            raise explain(err, "subscribing to SMP notifications") from None
        self._characteristic = characteristic

    async def _discover_write_size(self, client: BleakClient, characteristic: Any) -> int:
        size = int(characteristic.max_write_without_response_size)
        backend: Any = getattr(client, "_backend", None)
        backend_name = type(backend).__name__
        if backend_name == "BleakClientBlueZDBus" and hasattr(backend, "_acquire_mtu"):
            # bleak on BlueZ reports 23 until the MTU is acquired through a write socket.
            with contextlib.suppress(Exception):
                await backend._acquire_mtu()
                size = max(size, int(client.mtu_size) - 3)
        elif backend_name == "BleakClientWinRT" and size == MIN_WRITE_SIZE:
            # WinRT reports 20 until its GATT session has exchanged the MTU.
            for _ in range(20):
                await asyncio.sleep(0.1)
                size = int(characteristic.max_write_without_response_size)
                if size > MIN_WRITE_SIZE:
                    break
            session = getattr(backend, "_session", None)
            if size == MIN_WRITE_SIZE and session is not None:
                size = max(size, int(session.max_pdu_size) - 3)
        return max(size, MIN_WRITE_SIZE)

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        self._connected = False
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()
        self._frames.put_nowait(None)

    async def send(self, data: bytes) -> None:
        client = self._client
        if client is None or not self._connected:
            raise SMPTransportDisconnected("not connected")
        # One frame's writes must not interleave with another's: the device reassembles
        # by header length in a single context.
        async with self._send_lock:
            for start in range(0, len(data), self._write_size):
                try:
                    await client.write_gatt_char(
                        self._characteristic, data[start : start + self._write_size], response=False
                    )
                except Exception as err:
                    if not self._connected:
                        raise SMPTransportDisconnected(str(err)) from None
                    raise explain(err, "writing to the SMP characteristic") from None

    async def receive(self) -> bytes:
        frame = await self._frames.get()
        if frame is None:
            raise SMPTransportDisconnected("the BLE link is down")
        return frame

    async def send_and_receive(self, data: bytes) -> bytes:
        await self.send(data)
        return await self.receive()

    def initialize(self, smp_server_transport_buffer_size: int) -> None:
        self._smp_server_transport_buffer_size = smp_server_transport_buffer_size

    @property
    def mtu(self) -> int:
        """The write size (ATT MTU - 3): the frame limit when the device has no parameters."""
        return self._write_size

    @property
    def max_unencoded_size(self) -> int:
        return self._smp_server_transport_buffer_size or self._write_size

    # -- callbacks ----------------------------------------------------------------------

    def _on_notify(self, _characteristic: Any, data: bytearray) -> None:
        try:
            for frame in self._assembler.feed(bytes(data)):
                self._frames.put_nowait(frame)
        except DfuTransportError as err:
            _log.warning("dropping garbled notification data: %s", err)

    def _on_disconnect(self, _client: Any) -> None:
        self._connected = False
        self._frames.put_nowait(None)


@dataclass(frozen=True)
class ScanResult:
    """A device seen advertising the SMP service."""

    address: str
    name: str | None
    rssi: int | None

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "name": self.name, "rssi": self.rssi}


async def scan(*, duration_s: float = 5.0) -> list[ScanResult]:
    """Scan with the OS's Bluetooth stack for devices advertising the SMP service."""
    try:
        found = await BleakScanner.discover(
            timeout=duration_s, return_adv=True, service_uuids=[str(SMP_SERVICE_UUID)]
        )
    except Exception as err:
        raise explain(err, "scanning") from None
    results = [
        ScanResult(device.address, adv.local_name or device.name, adv.rssi)
        for device, adv in found.values()
    ]
    return sorted(results, key=lambda r: -(r.rssi if r.rssi is not None else -999))


def ble_connector(
    *,
    name: str | None = None,
    address: str | None = None,
    client_class: ClientFactory | None = None,
    finder: DeviceFinder | None = None,
    timeout_s: float = 10.0,
    pair: bool = False,
) -> Connector:
    """Return a connector for the BLE device *name* or *address*.

    :param client_class: the ``BleakClient`` class to use (default: bleak's own).
    :param finder: how to find the device (default: a bleak scan).
    """
    if not (name or address):
        raise DfuTransportError("a BLE device needs --name or --address")

    async def connect() -> BleTransport:
        transport = BleTransport(
            client_class=client_class or BleakClient,
            finder=finder or find_device,
            name=name,
            pair=pair,
        )
        await transport.connect(address or "", timeout_s)
        return transport

    return connect
