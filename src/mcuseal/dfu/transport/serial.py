"""SMP over a serial port (UART or USB CDC ACM) through smpclient's transport."""

from __future__ import annotations

from smpclient.transport.serial import SMPSerialTransport

from mcuseal.dfu.link import Connector
from mcuseal.errors import DfuTransportError


def serial_connector(port: str, *, baudrate: int = 115200, timeout_s: float = 5.0) -> Connector:
    """Return a connector for the SMP server on serial *port* (``/dev/ttyACM0``, ``COM3``)."""

    async def connect() -> SMPSerialTransport:
        transport = SMPSerialTransport(baudrate=baudrate)
        try:
            await transport.connect(port, timeout_s)
        except Exception as err:  # pyserial raises SerialException and OSError variants
            raise DfuTransportError(f"cannot open serial port {port}: {err}") from None
        return transport

    return connect
