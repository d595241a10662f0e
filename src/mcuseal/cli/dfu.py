"""``mcuseal dfu``: deliver signed images to a device over SMP (MCUmgr).

The transport options come before the action::

    mcuseal dfu --udp 192.0.2.1:1337 upload build/dfu_application.zip
    mcuseal dfu --name my-device list --json
    mcuseal dfu --hci usb:0 --name my-device upload zephyr.signed.encrypted.bin
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mcuseal.cli import _output
from mcuseal.errors import UsageError

if TYPE_CHECKING:
    from mcuseal.dfu.events import Event
    from mcuseal.dfu.link import DeviceLink
    from mcuseal.dfu.mcumgr import SlotState

HELP = "upload images to a device over BLE, UDP or serial (SMP/MCUmgr), list, test, confirm"
DESCRIPTION = """Deliver MCUboot images over SMP (MCUmgr): BLE (bleak, or bumble on an HCI
controller), UDP or serial.  Transport options go before the action.

exit codes: 0 done; 1 the device refused or dropped the image; 2 bad input (also an image the
device finds bigger than its slot); 3 transport failure (not found, disconnected, no answer)."""

_log = logging.getLogger(__name__)
T = TypeVar("T")


def _add_shared(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Transport and output options, accepted before and after the action.

    After the action they default to "not given" so they do not override the values
    given before it (``mcuseal dfu --udp H:P list --json`` and ``... --json list`` alike).
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    link = parser.add_argument_group("transport (pick one)")
    link.add_argument(
        "--udp",
        metavar="HOST[:PORT]",
        default=default(None),
        help="SMP over UDP (port 1337 by default)",
    )
    link.add_argument(
        "--mtu",
        type=int,
        default=default(1500),
        help="UDP: link MTU; frames stay within MTU - 28 bytes (default 1500)",
    )
    link.add_argument(
        "--serial", metavar="PORT", default=default(None), help="SMP over a serial port"
    )
    link.add_argument(
        "--baudrate", type=int, default=default(115200), help="serial baud rate (115200)"
    )
    link.add_argument(
        "--hci",
        metavar="SPEC",
        default=default(None),
        help="BLE through bumble's host stack on an HCI controller: usb:0 (a USB dongle, "
        "e.g. nRF52840 with Zephyr's hci_usb) or tcp-client:HOST:PORT",
    )
    link.add_argument("--name", default=default(None), help="BLE: the device's advertised name")
    link.add_argument(
        "--address",
        default=default(None),
        help="BLE: the device's address (a CoreBluetooth UUID on macOS)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(5.0),
        metavar="S",
        help="seconds to wait for each answer (default 5)",
    )
    link.add_argument(
        "--pair",
        action="store_true",
        default=default(False),
        help="BLE: pair (bond) on connecting, for firmware that requires an encrypted link",
    )
    link.add_argument(
        "--connect-timeout",
        type=float,
        default=default(15.0),
        metavar="S",
        help="BLE: seconds to find the device and to connect (default 15)",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument(
        "--json", action="store_true", default=default(False), help="machine-readable output"
    )
    out.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="print only errors"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    _add_shared(parser, suppress=False)
    shared = argparse.ArgumentParser(add_help=False)
    _add_shared(shared, suppress=True)

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = sub.add_parser(
        "upload",
        parents=[shared],
        help="upload, test, reset and confirm (the whole DFU)",
        description="Upload a signed image, a dfu_application.zip or a build directory's "
        "output, then by default mark it for test, reset, reconnect and confirm it once it "
        "runs.",
    )
    up.add_argument(
        "file",
        type=Path,
        metavar="IMAGE|ZIP|BUILD_DIR",
        help="signed image (.bin, or imgtool's .hex), dfu_application.zip, or a build "
        "directory holding either",
    )
    up.add_argument(
        "--image", type=int, help="image number for a single image (1: nRF5340 net core)"
    )
    mode = up.add_mutually_exclusive_group()
    mode.add_argument(
        "--confirm-only",
        dest="mode",
        action="store_const",
        const="confirm-only",
        help="mark permanent before the reset (no revert)",
    )
    mode.add_argument(
        "--test-only",
        dest="mode",
        action="store_const",
        const="test-only",
        help="mark for test and reset; do not confirm (reverts unless the app confirms)",
    )
    mode.add_argument(
        "--upload-only",
        dest="mode",
        action="store_const",
        const="upload-only",
        help="upload and check the hash; mark nothing, no reset",
    )
    up.add_argument(
        "--window",
        type=int,
        default=8,
        help="max requests in flight; the device's buf_count - 1 caps it (default 8)",
    )
    up.add_argument("--retries", type=int, default=5, help="resends per offset (default 5)")
    up.add_argument(
        "--resumes", type=int, default=3, help="reconnect-and-resume attempts (default 3)"
    )
    up.add_argument(
        "--first-timeout",
        type=float,
        default=40.0,
        metavar="S",
        help="wait for the first chunk, while the device erases the slot (default 40)",
    )
    up.add_argument(
        "--swap-wait",
        type=float,
        default=1.0,
        metavar="S",
        help="pause after the reset before reconnecting (default 1)",
    )
    up.add_argument(
        "--reconnect-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="keep trying to reconnect after the reset this long (default 60)",
    )
    up.add_argument(
        "--upgrade", action="store_true", help="let the device refuse an image that is not newer"
    )

    sub.add_parser("list", parents=[shared], help="list images and slots: version, hash, flags")
    test = sub.add_parser(
        "test", parents=[shared], help="mark an image for test (reverts unless confirmed)"
    )
    test.add_argument("hash", help="image hash as 'mcuseal dfu list' shows it")
    confirm = sub.add_parser(
        "confirm", parents=[shared], help="confirm the running image (or HASH)"
    )
    confirm.add_argument("hash", nargs="?", help="image hash (default: the running image)")
    reset = sub.add_parser("reset", parents=[shared], help="reboot the device")
    reset.add_argument("--force", action="store_true", help="reset even if the app objects")
    erase = sub.add_parser(
        "erase", parents=[shared], help="erase the secondary slot and any upload session"
    )
    erase.add_argument("--slot", type=int, help="slot to erase (device default: 1)")
    sub.add_parser("params", parents=[shared], help="show the device's SMP buffer size and count")
    echo = sub.add_parser("echo", parents=[shared], help="echo a string through the device")
    echo.add_argument("text", nargs="?", default="hello", help="text to echo")
    scan = sub.add_parser(
        "scan", parents=[shared], help="list BLE devices that offer the SMP service, with RSSI"
    )
    scan.add_argument(
        "--duration", type=float, default=5.0, metavar="S", help="scan time (default 5)"
    )


def _make_link(args: argparse.Namespace) -> tuple[DeviceLink, Callable[[], Awaitable[None]] | None]:
    """Build the link the transport options ask for, and what to close after it."""
    from mcuseal.dfu.link import DeviceLink

    chosen = [
        flag
        for flag, value in (("--udp", args.udp), ("--serial", args.serial), ("--hci", args.hci))
        if value
    ]
    if len(chosen) > 1:
        raise UsageError(f"pick one transport, not {' and '.join(chosen)}")
    if args.udp:
        from mcuseal.dfu.transport import udp

        host, port = udp.parse_address(args.udp)
        link = DeviceLink(
            udp.udp_connector(host, port, mtu=args.mtu, timeout_s=args.timeout),
            timeout_s=args.timeout,
            frame_cap=udp.frame_cap(args.mtu),
        )
        return link, None
    if args.serial:
        from mcuseal.dfu.transport.serial import serial_connector

        link = DeviceLink(
            serial_connector(args.serial, baudrate=args.baudrate, timeout_s=args.timeout),
            timeout_s=args.timeout,
            max_window=1,
        )
        return link, None
    if not (args.name or args.address):
        raise UsageError(
            "no device: give --udp HOST:PORT, --serial PORT, or --name/--address for BLE "
            "(find one with 'mcuseal dfu scan')"
        )
    if args.hci:
        from mcuseal.dfu.transport import hci

        bumble = hci.BumbleHost(args.hci)
        connector = hci.hci_connector(
            bumble,
            name=args.name,
            address=args.address,
            timeout_s=args.connect_timeout,
            pair=args.pair,
        )
        return DeviceLink(connector, timeout_s=args.timeout), bumble.close
    from mcuseal.dfu.transport import ble

    connector = ble.ble_connector(
        name=args.name, address=args.address, timeout_s=args.connect_timeout, pair=args.pair
    )
    return DeviceLink(connector, timeout_s=args.timeout), None


async def _with_link(args: argparse.Namespace, body: Callable[[DeviceLink], Awaitable[T]]) -> T:
    link, cleanup = _make_link(args)
    try:
        async with link:
            return await body(link)
    finally:
        if cleanup is not None:
            await cleanup()


#: libraries under the transports whose log reaches the user only with ``-v`` (asyncio:
#: "socket.send() raised exception." per write to the socket of a vanished HCI server)
_PEER_LOGGERS = ("smpclient", "bumble", "bleak", "asyncio")


def _route_peer_logs() -> None:
    """Show the transport libraries' log only with ``-v``, through mcuseal's handler.

    Without a handler of their own it would reach Python's last-resort handler: every
    ICMP "port unreachable" of a device that is not there (smpclient), or a traceback per
    HCI command to a controller that went away (bumble), printed before the one error
    message that explains it.
    """
    ours = logging.getLogger("mcuseal")
    verbose = ours.getEffectiveLevel() <= logging.INFO
    for name in _PEER_LOGGERS:
        peer = logging.getLogger(name)
        peer.handlers[:] = list(ours.handlers) if verbose else [logging.NullHandler()]
        peer.setLevel(ours.getEffectiveLevel())
        peer.propagate = False


def run(args: argparse.Namespace) -> int:
    _route_peer_logs()
    action = args.action
    if action == "scan":
        return asyncio.run(_scan(args))
    if action == "upload":
        return _upload(args)
    return asyncio.run(_with_link(args, lambda link: _simple(args, link)))


def _parse_hash(text: str) -> bytes:
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        raise UsageError(f"hash {text!r} is not hex; copy it from 'mcuseal dfu list'") from None
    if len(digest) not in (32, 48, 64):
        raise UsageError(f"hash {text!r} has {len(digest)} bytes; expected 32, 48 or 64")
    return digest


async def _simple(args: argparse.Namespace, link: DeviceLink) -> int:
    from mcuseal.dfu import mcumgr

    session = link.session
    action = args.action
    state: list[SlotState] | None = None
    if action == "list":
        state = await mcumgr.read_state(session)
    elif action == "test":
        state = await mcumgr.write_state(session, _parse_hash(args.hash), confirm=False)
    elif action == "confirm":
        digest = _parse_hash(args.hash) if args.hash else None
        state = await mcumgr.write_state(session, digest, confirm=True)
    elif action == "reset":
        await mcumgr.reset(session, force=args.force)
        return _report(args, {"reset": True}, "device is resetting")
    elif action == "erase":
        await mcumgr.erase(session, args.slot)
        return _report(args, {"erased": True, "slot": args.slot}, "secondary slot erased")
    elif action == "params":
        p = link.params
        if p is None:
            return _report(
                args,
                {"buf_size": None, "buf_count": None},
                "the device does not report MCUmgr parameters (stop-and-wait uploads)",
            )
        return _report(
            args,
            {"buf_size": p.buf_size, "buf_count": p.buf_count},
            f"buf_size {p.buf_size} B, buf_count {p.buf_count}",
        )
    elif action == "echo":
        answer = await mcumgr.echo(session, args.text)
        return _report(args, {"echo": answer}, answer)
    assert state is not None
    if args.json:
        _output.print_json({"images": [s.to_json() for s in state]})
    elif not args.quiet:
        _print_state(state)
    return 0


def _report(args: argparse.Namespace, obj: dict[str, Any], text: str) -> int:
    if args.json:
        _output.print_json(obj)
    elif not args.quiet:
        _output.stdout().print(text, markup=False)
    return 0


def _print_state(state: list[SlotState]) -> None:
    # Plain lines, not a table: a table would cut the hash users copy into 'dfu test'.
    console = _output.stdout()
    if not state:
        console.print("the device lists no images")
    for s in state:
        flags = " ".join(s.flags) or "-"
        console.print(
            f"image {s.image} slot {s.slot}: {s.version} ({flags})\n"
            f"  hash {s.hash.hex() if s.hash else '-'}",
            markup=False,
        )


def _upload(args: argparse.Namespace) -> int:
    from mcuseal.dfu.flow import FlowOptions, Mode, run_dfu
    from mcuseal.dfu.package import load_path
    from mcuseal.dfu.upload import UploadOptions

    if args.window < 1:
        raise UsageError("--window must be at least 1")
    if args.retries < 0 or args.resumes < 0:
        raise UsageError("--retries and --resumes must not be negative")
    images = load_path(args.file, image=args.image)
    options = FlowOptions(
        mode=Mode(args.mode or Mode.TEST_AND_CONFIRM.value),
        upload=UploadOptions(
            window=args.window,
            timeout_s=args.timeout,
            first_timeout_s=args.first_timeout,
            retries=args.retries,
            resumes=args.resumes,
            upgrade=args.upgrade,
        ),
        swap_wait_s=args.swap_wait,
        reconnect_timeout_s=args.reconnect_timeout,
    )
    display = _Display(args, {img.image: img.name for img in images})

    async def body(link: DeviceLink) -> int:
        with display:
            report = await run_dfu(link, images, options, on_event=display.event)
        if args.json:
            _output.print_json_event({"event": "result", **report.to_json()})
        elif not args.quiet:
            display.summary(report.to_json())
        return 0

    return asyncio.run(_with_link(args, body))


class _Display:
    """Renders DFU events: rich progress bars, a JSON event stream, or nothing."""

    def __init__(self, args: argparse.Namespace, names: dict[int, str]) -> None:
        self.json = bool(args.json)
        self.quiet = bool(args.quiet)
        self.names = names
        self._progress: Any = None
        self._live = False
        self._tasks: dict[int, Any] = {}

    def __enter__(self) -> _Display:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _start(self) -> Any:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=_output.stdout(),
        )
        self._progress.start()
        self._live = True
        return self._progress

    def _stop(self) -> None:
        if self._live:
            self._progress.stop()
            self._live = False

    def _print(self, text: str) -> None:
        console = self._progress.console if self._live else _output.stdout()
        console.print(text, markup=False)

    def event(self, event: Event) -> None:
        if self.json:
            _output.print_json_event(event.to_json())
            return
        if self.quiet:
            return
        data = event.data
        if event.kind == "upload-start":
            progress = self._progress if self._live else self._start()
            self._tasks[data["image"]] = progress.add_task(
                f"image {data['image']}", total=data["size"], completed=0
            )
        elif event.kind == "progress" and self._live and data["image"] in self._tasks:
            self._progress.update(self._tasks[data["image"]], completed=data["offset"])
        elif event.kind == "skip":
            self._print(f"image {data['image']}: {data['reason']}, skipped")
        elif event.kind == "resync" and data.get("resumed"):
            self._print(
                f"image {data['image']}: resuming the device's upload at {data['offset']} B"
            )
        elif event.kind in ("resume", "mark", "reset", "reconnect", "confirm"):
            if event.kind in ("mark", "reset"):
                # Uploads are over: end the live bars so later lines print below them.
                self._stop()
            self._print(_describe(event))

    def summary(self, report: dict[str, Any]) -> None:
        console = _output.stdout()
        for image in report["images"]:
            if image["slot"] == 0:
                flags = " ".join(image["flags"]) or "-"
                console.print(
                    f"image {image['image']}: running {image['version']} ({flags})", markup=False
                )
        console.print("[bold green]done[/]")


def _describe(event: Event) -> str:
    data = event.data
    if event.kind == "resume":
        return f"image {data['image']}: link lost ({data['reason']}); resuming"
    if event.kind == "mark":
        what = "permanent" if data["permanent"] else "test"
        return f"image {data['image']}: marked for {what}"
    if event.kind == "reset":
        return "resetting the device"
    if event.kind == "reconnect":
        return "reconnected"
    return "confirmed the running image"


async def _scan(args: argparse.Namespace) -> int:
    from mcuseal.dfu.transport import ble

    if args.hci:
        from mcuseal.dfu.transport import hci

        found = await hci.scan(args.hci, duration_s=args.duration)
    else:
        found = await ble.scan(duration_s=args.duration)
    if args.json:
        _output.print_json({"devices": [d.to_json() for d in found]})
    elif not args.quiet:
        if not found:
            _output.stdout().print("no SMP devices found")
        for device in found:
            rssi = "?" if device.rssi is None else f"{device.rssi} dBm"
            _output.stdout().print(
                f"{device.address}  {rssi:>8}  {device.name or '-'}", markup=False
            )
    return 0
