"""One connection's SMP request/response bookkeeping on top of an ``SMPTransport``.

smpclient's ``SMPClient.request`` sends one frame and waits for the next frame back, so
only one request can be outstanding.  :class:`SmpSession` instead runs one receive task
that hands every response to the request with the same sequence number, which is what
lets the upload engine keep a window of requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from mcuseal.dfu import protocol
from mcuseal.errors import DfuTransportError

if TYPE_CHECKING:
    from smp.message import Request
    from smpclient.transport import SMPTransport

_log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.5
#: SMP sequence numbers are one byte.
SEQUENCE_MODULO = 256


class SmpSession:
    """Send SMP requests over a connected transport and match responses by sequence.

    :param transport: a connected transport implementing smpclient's ``SMPTransport``.
    :param timeout_s: default time to wait for a response.
    """

    def __init__(self, transport: SMPTransport, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.transport = transport
        self.timeout_s = timeout_s
        self._pending: dict[int, asyncio.Future[protocol.Response]] = {}
        self._sequence = 0
        self._reader: asyncio.Task[None] | None = None
        self._failure: DfuTransportError | None = None
        #: responses that matched no outstanding request (late answers to abandoned ones)
        self.unmatched = 0

    async def __aenter__(self) -> SmpSession:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start the receive task (idempotent)."""
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    async def close(self) -> None:
        """Stop the receive task and fail whatever is still outstanding."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        self._fail_all(DfuTransportError("the SMP session was closed"))

    @property
    def alive(self) -> bool:
        return self._failure is None

    def next_sequence(self) -> int:
        """Allocate the next sequence number, skipping any still outstanding."""
        for _ in range(SEQUENCE_MODULO):
            seq = self._sequence
            self._sequence = (self._sequence + 1) % SEQUENCE_MODULO
            if seq not in self._pending:
                return seq
        raise DfuTransportError("256 SMP requests outstanding: the device stopped answering")

    async def send(self, frame: bytes, sequence: int) -> asyncio.Future[protocol.Response]:
        """Send *frame* (whose header carries *sequence*) and return its response future.

        :raises DfuTransportError: the link is down.
        """
        if self._failure is not None:
            raise self._failure
        self.start()
        future: asyncio.Future[protocol.Response] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = future
        try:
            await self.transport.send(frame)
        except Exception as err:
            self._pending.pop(sequence, None)
            raise _transport_error(err, "sending to the device") from None
        return future

    def abandon(self, sequence: int) -> None:
        """Forget an outstanding request: a late response to it will be ignored."""
        future = self._pending.pop(sequence, None)
        if future is not None and not future.done():
            future.cancel()

    async def request(
        self,
        message: Request,
        what: str,
        *,
        timeout_s: float | None = None,
        attempts: int = 1,
    ) -> dict[str, Any]:
        """Send one ``smp`` request message and return the body of the device's answer.

        :param message: built with ``sequence=session.next_sequence()``.
        :param what: what the request does, for error messages.
        :param attempts: sends before giving up on an answer; only for requests that are
            safe to repeat (reads), since a lost answer does not mean a lost request.
        :raises DfuDeviceError: the device answered with an SMP error.
        :raises DfuTransportError: no answer in time, or the link failed.
        """
        timeout = self.timeout_s if timeout_s is None else timeout_s
        for attempt in range(attempts):
            if attempt:
                message = type(message)(**_fields(message), sequence=self.next_sequence())
            future = await self.send(message.BYTES, message.header.sequence)
            try:
                response = await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                self.abandon(message.header.sequence)
                continue
            return protocol.check(response, what)
        waited = f"{timeout:g} s" if attempts == 1 else f"{attempts} tries of {timeout:g} s"
        raise DfuTransportError(
            f"no answer from the device to {what} in {waited}; check that it is "
            "powered, in range and running an MCUmgr (SMP) server"
        )

    async def _read_loop(self) -> None:
        try:
            while True:
                frame = await self.transport.receive()
                try:
                    response = protocol.decode_response(bytes(frame))
                except DfuTransportError as err:
                    _log.warning("%s", err)
                    continue
                future = self._pending.pop(response.sequence, None)
                if future is None or future.done():
                    self.unmatched += 1
                    _log.debug("ignoring a response with unmatched sequence %d", response.sequence)
                    continue
                future.set_result(response)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self._fail_all(_transport_error(err, "receiving from the device"))

    def _fail_all(self, error: DfuTransportError) -> None:
        if self._failure is None:
            self._failure = error
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)


def _fields(message: Request) -> dict[str, Any]:
    return message.model_dump(
        exclude_unset=True, exclude={"header", "version", "sequence", "smp_data"}
    )


def _transport_error(err: Exception, doing: str) -> DfuTransportError:
    if isinstance(err, DfuTransportError):
        return err
    name = type(err).__name__
    detail = str(err) or name
    if "Disconnected" in name or isinstance(err, (ConnectionError, EOFError)):
        return DfuTransportError(f"the device disconnected while {doing}: {detail}")
    return DfuTransportError(f"link failure while {doing}: {detail}")
