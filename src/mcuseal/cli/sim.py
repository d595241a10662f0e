"""``mcuseal sim``: run a virtual MCUboot device that speaks SMP over UDP and BLE."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcuseal.errors import InputError, UsageError

if TYPE_CHECKING:
    from mcuseal.dfu.sim import SimEvent

HELP = "run a virtual MCUboot device (SMP over UDP and BLE) to test and rehearse DFU"
DESCRIPTION = (
    "Run a virtual MCUboot device.  It answers SMP as a Zephyr application with MCUmgr does "
    "(OS and image groups) over UDP (Zephyr's UDP transport, port 1337 by default) and over "
    "BLE through a bumble virtual controller served as HCI over TCP, and at reset validates, "
    "swaps or overwrites, and reverts like MCUboot.  One image runs swap with revert; two "
    "images run overwrite-only as NCS's simultaneous nRF5340 update (image 1 = network core).  "
    "Stop it with Ctrl-C."
)
DEFAULT_UDP_PORT = 1337

_log = logging.getLogger(__name__)


def _udp_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, DEFAULT_UDP_PORT
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}; use HOST:PORT") from None
    if not 0 <= number <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"port {number} out of range 0..65535")
    return host.strip("[]") or "127.0.0.1", number


def _ble_address(text: str) -> tuple[str, int]:
    scheme, _, rest = text.partition(":")
    if scheme != "tcp-server" or not rest:
        raise argparse.ArgumentTypeError(
            f"--ble {text!r}: use tcp-server:HOST:PORT (HCI over TCP for a bumble host)"
        )
    host, sep, port = rest.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"--ble {text!r}: missing :PORT")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ble {text!r}: bad port") from None


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} must be in [0, 1)")
    return value


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a time must not be negative")
    return value / 1000.0


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def configure(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where the device listens")
    where.add_argument(
        "--udp",
        metavar="HOST[:PORT]",
        type=_udp_address,
        help="serve SMP over UDP (default 127.0.0.1:1337 when --ble is not given; port 0 picks "
        "a free one)",
    )
    where.add_argument(
        "--ble",
        metavar="tcp-server:HOST:PORT",
        type=_ble_address,
        help="expose the device's BLE side: a virtual controller served as HCI over TCP",
    )
    where.add_argument(
        "--name", default="mcuseal-sim", help="BLE advertising name (default: %(default)s)"
    )
    where.add_argument(
        "--ble-security",
        choices=("none", "encrypt", "authen"),
        default="none",
        help="what the SMP characteristic requires: nothing (Zephyr's PERM_RW), an encrypted "
        "link (PERM_RW_ENCRYPT) or authenticated pairing with a displayed passkey "
        "(PERM_RW_AUTHEN)",
    )
    dev = parser.add_argument_group("the device")
    dev.add_argument(
        "--sign-key",
        metavar="KEY",
        type=Path,
        action="append",
        default=[],
        help="signature public key the bootloader trusts (PEM/DER, public or private; "
        "repeatable); none: a hash-only MCUboot",
    )
    dev.add_argument(
        "--enc-key",
        metavar="KEY",
        type=Path,
        help="the device's private decryption key (PEM/DER) or KEK file; none: encrypted "
        "updates are rejected",
    )
    dev.add_argument("--images", type=int, choices=(1, 2), default=1, help="updatable images")
    dev.add_argument(
        "--primary",
        metavar="IMAGE",
        type=Path,
        action="append",
        default=[],
        help="preload a primary slot (repeat for image 1); default: empty",
    )
    dev.add_argument("--buf-size", type=_int, default=2475, help="MCUmgr net_buf size")
    dev.add_argument("--buf-count", type=_int, default=6, help="MCUmgr net_buf count")
    dev.add_argument(
        "--slot-size",
        type=_int,
        help="size of each slot (default 2 MiB, or what the first upload padded with "
        "imgtool --pad was padded to)",
    )
    dev.add_argument(
        "--netcore-check",
        metavar="B0N_ADDR",
        type=_int,
        nargs="?",
        const=0x01008800,
        help="enable NCS's reset-vector check (nRF5340 one-image layout): an update whose "
        "reset vector is above B0N_ADDR (default 0x01008800) goes to the network core",
    )
    faults = parser.add_argument_group("timing and faults")
    faults.add_argument(
        "--latency-ms", type=_milliseconds, default=0.0, help="delay of every response"
    )
    faults.add_argument(
        "--service-ms",
        type=_milliseconds,
        default=0.0,
        help="processing time of every request (one at a time)",
    )
    faults.add_argument(
        "--erase-ms", type=_milliseconds, default=0.0, help="slot erase time on the first chunk"
    )
    faults.add_argument(
        "--loss", type=_probability, default=0.0, help="probability a frame is lost"
    )
    faults.add_argument(
        "--disconnect-at",
        metavar="OFFSET",
        type=_int,
        action="append",
        default=[],
        help="drop the link when an upload reaches OFFSET (repeatable)",
    )
    faults.add_argument(
        "--reset-at",
        metavar="OFFSET",
        type=_int,
        action="append",
        default=[],
        help="reset the device when an upload reaches OFFSET (repeatable)",
    )
    faults.add_argument("--seed", type=int, help="seed of the fault generator")
    parser.add_argument(
        "--json", action="store_true", help="print what the device does as JSON lines"
    )


def _load_primary(paths: list[Path], images: int, check: Any) -> list[bytes | None]:
    if len(paths) > images:
        raise UsageError(f"{len(paths)} --primary images given for {images} image(s)")
    loaded: list[bytes | None] = []
    for index, path in enumerate(paths):
        try:
            data = path.read_bytes()
        except OSError as err:
            raise InputError(f"cannot read --primary {path}: {err.strerror or err}") from None
        verdict = check.check(data, image_index=index, slot=0)
        if not verdict.accepted:
            raise InputError(
                f"--primary {path} would not boot from the primary slot ({verdict.reason}); "
                "preload a plaintext image signed with a --sign-key (mcuseal sign --clear "
                "turns an encrypted one into one)"
            )
        loaded.append(data)
    return loaded


def _printer(as_json: bool) -> Any:
    from mcuseal.cli import _output

    def show(event: SimEvent) -> None:
        if as_json:
            _output.print_json_event(event.to_json())
            return
        if event.kind in ("drop",):
            return
        detail = " ".join(f"{k}={v}" for k, v in event.detail.items())
        _output.stdout().print(f"[{event.t_s:8.3f}] {event.kind} {detail}".rstrip())

    return show


def run(args: argparse.Namespace) -> int:
    from mcuseal.dfu.sim import McubootCheck, SimConfig

    config = SimConfig(
        images=args.images,
        buf_size=args.buf_size,
        buf_count=args.buf_count,
        slot_size=args.slot_size,
        latency_s=args.latency_ms,
        service_time_s=args.service_ms,
        erase_time_s=args.erase_ms,
        loss_rate=args.loss,
        disconnect_at=tuple(args.disconnect_at),
        reset_at=tuple(args.reset_at),
        seed=args.seed,
        netcore_b0n_addr=args.netcore_check,
        ble_security=args.ble_security,
    )
    check = McubootCheck.from_files(args.sign_key, args.enc_key, slot_size=args.slot_size)
    primary = _load_primary(args.primary, args.images, check)
    if not args.sign_key:
        _log.warning(
            "no --sign-key: the device accepts any image whose hash is intact, as a hash-only "
            "MCUboot does"
        )
    udp = args.udp
    if udp is None and args.ble is None:
        udp = ("127.0.0.1", DEFAULT_UDP_PORT)
    try:
        asyncio.run(_serve(config, check, primary, udp, args.ble, args.name, _printer(args.json)))
    except KeyboardInterrupt:
        return 0
    return 0


async def _serve(
    config: Any,
    check: Any,
    primary: list[bytes | None],
    udp: tuple[str, int] | None,
    ble: tuple[str, int] | None,
    name: str,
    show: Any,
) -> None:
    from mcuseal.dfu.sim import VirtualDevice

    async with VirtualDevice(config, boot_check=check, primary=primary, on_event=show) as device:
        if udp is not None:
            await device.serve_udp(*udp)
        if ble is not None:
            await device.serve_hci_tcp(ble[0], ble[1], name=name)
        await asyncio.Event().wait()
