"""``mcuseal.dfu.sim``: a virtual MCUboot device that speaks SMP over UDP and BLE.

It answers as a Zephyr application with MCUmgr (OS and image groups) would, and at
reset behaves as MCUboot: it validates the secondary slot with the device's keys,
swaps (one image, with revert) or overwrites (two images, NCS simultaneous update),
and erases what fails.  Use it to test DFU clients and rehearse releases without
hardware::

    from mcuseal.dfu.sim import McubootCheck, SimConfig, VirtualDevice

    check = McubootCheck.from_files([Path("root-ec-p256.pub.pem")], Path("enc-ec256.pem"))
    async with VirtualDevice(SimConfig(latency_s=0.015), boot_check=check) as device:
        host, port = await device.serve_udp("127.0.0.1", 0)
        ...                       # any SMP client: smpclient, smpmgr, mcuseal dfu
        device.running(0)         # SlotInfo of what runs now

For BLE, ``await device.serve_ble(name=...)`` returns a :class:`BlePeripheral` whose
``link`` (a bumble ``LocalLink``) a client-side bumble ``Controller`` joins and whose
``address`` it connects to; ``await device.serve_hci_tcp(host, port)`` serves a virtual
controller on that link as HCI over TCP for an unmodified host stack.
"""

from __future__ import annotations

from mcuseal.dfu.sim._device import Link, SimConfig, SimEvent, VirtualDevice
from mcuseal.dfu.sim._imginfo import SlotInfo, read_info
from mcuseal.dfu.sim._mcuboot import (
    NRF5340_CPUNET_B0N_ADDRESS,
    BootCheck,
    BootVerdict,
)
from mcuseal.dfu.sim._verify import McubootCheck


def __getattr__(name: str) -> object:
    # The BLE side pulls in bumble: import it only when asked for.
    if name in ("BlePeripheral", "SMP_SERVICE_UUID", "SMP_CHARACTERISTIC_UUID"):
        from mcuseal.dfu.sim import _ble

        return getattr(_ble, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NRF5340_CPUNET_B0N_ADDRESS",
    "SMP_CHARACTERISTIC_UUID",
    "SMP_SERVICE_UUID",
    "BlePeripheral",
    "BootCheck",
    "BootVerdict",
    "Link",
    "McubootCheck",
    "SimConfig",
    "SimEvent",
    "SlotInfo",
    "VirtualDevice",
    "read_info",
]
