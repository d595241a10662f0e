"""SMP over UDP as Zephyr's ``smp_udp.c`` serves it.

One datagram is one net_buf: it is read into a ``CONFIG_MCUMGR_TRANSPORT_UDP_MTU``
buffer (longer datagrams are truncated), copied into a net_buf if one is free
(otherwise dropped), and every response goes back to the datagram's source address.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcuseal.dfu.sim._device import VirtualDevice


class _SmpUdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, device: VirtualDevice) -> None:
        self._device = device
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a DatagramTransport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        from mcuseal.dfu.sim._device import Link

        transport = self._transport
        if transport is None:
            return
        data = data[: self._device.config.udp_mtu]
        if len(data) > self._device.config.buf_size:
            self._device._emit("drop", {"why": "datagram larger than net_buf", "size": len(data)})
            return

        def reply(frame: bytes) -> None:
            if not transport.is_closing():
                transport.sendto(frame, addr)

        def lose_link() -> None:
            # UDP has no connection to drop: the peer just hears nothing this time.
            return None

        self._device.submit(data, Link(reply, lose_link))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away; nothing to do.
        return None


async def serve_udp(device: VirtualDevice, host: str, port: int) -> tuple[str, int]:
    """Bind *host*:*port* (0 = any free port) and serve *device* on it."""
    from mcuseal.errors import DfuTransportError

    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        transport, _protocol = await loop.create_datagram_endpoint(
            lambda: _SmpUdpProtocol(device), local_addr=(host, port), family=family
        )
    except OSError as err:
        raise DfuTransportError(
            f"cannot serve SMP on udp {host}:{port}: {err.strerror or err}; "
            "pick another --udp port (0 lets the system choose)"
        ) from None
    device.add_closer(transport.close)
    sockname = transport.get_extra_info("sockname")
    device._emit("listen", {"transport": "udp", "host": sockname[0], "port": sockname[1]})
    return sockname[0], int(sockname[1])
