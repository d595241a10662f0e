"""A reconnectable connection to one device: transport, session, MCUmgr parameters.

The upload engine and the DFU flow talk to a :class:`DeviceLink`.  It owns a *connector*
(an async callable that returns a connected ``SMPTransport``), so after a disconnect, a
timeout or a device reset it can build a fresh transport and session the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from mcuseal.dfu import mcumgr
from mcuseal.dfu.session import DEFAULT_TIMEOUT_S, SmpSession
from mcuseal.errors import DfuTransportError

if TYPE_CHECKING:
    from smpclient.transport import SMPTransport

_log = logging.getLogger(__name__)

Connector = Callable[[], Awaitable["SMPTransport"]]


class DeviceLink:
    """Connect, read MCUmgr parameters, and reconnect on demand.

    :param connector: returns a newly connected transport each time it is awaited.
    :param timeout_s: default response timeout of the session.
    :param frame_cap: an extra limit on the frame size (UDP: ``mtu - 28``), or ``None``.
    :param max_window: an upper bound on requests in flight the transport can take
        (serial: 1, the console-style UART transport is not pipelined), or ``None``.
    """

    def __init__(
        self,
        connector: Connector,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        frame_cap: int | None = None,
        max_window: int | None = None,
    ) -> None:
        self._connector = connector
        self.timeout_s = timeout_s
        self.frame_cap = frame_cap
        self.max_window = max_window
        self._session: SmpSession | None = None
        self.params: mcumgr.McumgrParams | None = None
        self.frame_limit = 0
        self.connects = 0

    @property
    def session(self) -> SmpSession:
        if self._session is None:
            raise DfuTransportError("not connected to the device")
        return self._session

    async def __aenter__(self) -> DeviceLink:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect and read the MCUmgr parameters; the frame limit follows from them."""
        transport = await self._connector()
        self.connects += 1
        session = SmpSession(transport, timeout_s=self.timeout_s)
        session.start()
        self._session = session
        # A device without the parameters command answers ENOTSUP (None here); no
        # answer at all means no device, and raises.
        try:
            self.params = await mcumgr.read_params(session)
        except BaseException:
            await self.close()
            raise
        if self.params is None:
            _log.info("the device does not report MCUmgr parameters; uploads are stop-and-wait")
        if self.params is not None:
            transport.initialize(self.params.buf_size)
            limit = min(self.params.buf_size, transport.max_unencoded_size)
        else:
            limit = transport.max_unencoded_size
        if self.frame_cap is not None:
            limit = min(limit, self.frame_cap)
        self.frame_limit = limit

    async def close(self) -> None:
        """Close the session and disconnect (errors while disconnecting are ignored)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
            with contextlib.suppress(Exception):
                await session.transport.disconnect()

    async def reconnect(self, *, attempts: int = 5, delay_s: float = 0.5) -> None:
        """Drop the current connection and open a new one, trying up to *attempts* times.

        :raises DfuTransportError: the last attempt's failure.
        """
        await self.close()
        last: DfuTransportError | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(delay_s)
            try:
                await self.open()
                return
            except DfuTransportError as err:
                last = err
                _log.info("reconnect attempt %d failed: %s", attempt + 1, err)
                await self.close()
        assert last is not None
        raise last
