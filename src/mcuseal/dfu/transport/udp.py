"""SMP over UDP (Zephyr's ``CONFIG_MCUMGR_TRANSPORT_UDP``) through smpclient's transport."""

from __future__ import annotations

import asyncio
from typing import Final

from smpclient.transport.udp import SMPUDPTransport

from mcuseal.dfu.link import Connector
from mcuseal.errors import DfuTransportError, UsageError

#: Zephyr's ``CONFIG_MCUMGR_TRANSPORT_UDP_PORT`` default
DEFAULT_PORT: Final = 1337
DEFAULT_MTU: Final = 1500
#: IPv4 + UDP headers: a datagram may carry ``mtu - 28`` bytes without IP fragmentation
IPV4_UDP_OVERHEAD: Final = 28


def parse_address(text: str) -> tuple[str, int]:
    """Split ``HOST[:PORT]`` (``[V6ADDR]:PORT`` for IPv6); the port defaults to 1337.

    :raises UsageError: an empty host or a bad port.
    """
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise UsageError(f"--udp {text!r}: no host; use HOST:PORT, e.g. 192.0.2.1:1337")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--udp {text!r}: port must be 1..65535")
    return host, int(port_text)


def frame_cap(mtu: int) -> int:
    """Largest SMP frame one datagram carries on a link of *mtu* bytes."""
    return mtu - IPV4_UDP_OVERHEAD


def udp_connector(
    host: str, port: int = DEFAULT_PORT, *, mtu: int = DEFAULT_MTU, timeout_s: float = 5.0
) -> Connector:
    """Return a connector for the SMP server at *host*:*port*.

    :param mtu: link MTU; frames are at most ``mtu - 28`` bytes (also ``buf_size``).
    """
    if mtu < IPV4_UDP_OVERHEAD + 64:
        raise UsageError(f"--mtu {mtu} is too small for SMP over UDP")

    async def connect() -> SMPUDPTransport:
        transport = SMPUDPTransport(mtu=mtu)
        try:
            await transport.connect(host, timeout_s, port=port)
        except (OSError, asyncio.TimeoutError) as err:
            raise DfuTransportError(f"cannot open UDP to {host}:{port}: {err}") from None
        return transport

    return connect
