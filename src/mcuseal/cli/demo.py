"""``mcuseal demo``: an encrypted nRF5340 update, end to end, with no board and no radio.

The logic is :mod:`mcuseal.demo`; this module only narrates it (rich on stdout, or one
JSON event per line with ``--json``) and owns the temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcuseal.cli import _output

if TYPE_CHECKING:
    from rich.console import Console

    from mcuseal.demo import DemoResult, HazardResult
    from mcuseal.dfu.events import Event

HELP = "see an encrypted nRF5340 update end to end, no board"
DESCRIPTION = """Take the nRF5340 build bundled with mcuseal (NCS v2.7.0 sysbuild: peripheral_lbs
on the application core, ipc_radio on the network core), generate DEMO KEYS, run the
preflight, sign and encrypt it, start a virtual MCUboot device with the matching keys
behind a virtual BLE link (bumble, in this process), upload both images with the DFU
client, reset, reconnect, confirm, and print what the device runs.

--show-hazard replays the failure mcuseal's preflight exists for instead: the same
encrypted image on a device whose MCUboot routes updates by the reset vector, handed to
the network core. It exits 0 when the replay showed that.

Everything happens in a temporary directory that is deleted at the end.

exit codes: 0 done (or the hazard shown); 1 the update (or the replay) did not end as
it should; 2 bad input; 3 transport failure."""

_DEMO_EVENTS = ("demo-keys", "preflight", "seal", "device-start", "device", "hazard-retry")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--show-hazard",
        action="store_true",
        help="replay the reference failure: an encrypted app image misrouted to the net core",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON event per line (the last is 'result')"
    )


def run(args: argparse.Namespace) -> int:
    from mcuseal.cli.dfu import _Display
    from mcuseal.demo import run_demo, run_hazard

    console = _output.stdout()
    # Progress bars only on a terminal; elsewhere (CI logs, pipes) one line per step.
    bars = console.is_terminal and not args.json
    display = _Display(argparse.Namespace(json=False, quiet=not bars), {})
    narrator = _Narrator(console)

    def on_event(event: Event) -> None:
        if args.json:
            _output.print_json_event(event.to_json())
        elif event.kind in _DEMO_EVENTS:
            narrator.event(event)
        elif bars:
            display.event(event)
        else:
            narrator.dfu(event)

    with tempfile.TemporaryDirectory(prefix="mcuseal-demo-") as tmp:
        workdir = Path(tmp)
        if not args.json:
            narrator.intro(workdir, hazard=args.show_hazard)
        with display:
            if args.show_hazard:
                hazard = asyncio.run(run_hazard(workdir, on_event=on_event))
            else:
                result = asyncio.run(run_demo(workdir, on_event=on_event))
    if args.show_hazard:
        if not args.json:
            narrator.hazard(hazard)
        return 0 if hazard.as_intended else 1
    if not args.json:
        narrator.closing(result)
    return 0 if result.ok else 1


class _Narrator:
    """Human output of the demo's own steps and the closing table."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def say(self, text: str) -> None:
        self.console.print(text, markup=False)

    def intro(self, workdir: Path, *, hazard: bool) -> None:
        what = "replaying the nRF5340 misroute" if hazard else "an encrypted nRF5340 update"
        self.console.print(f"[bold]mcuseal demo[/]: {what}, no board, no radio", highlight=False)
        self.say(
            "build: the bundled NCS v2.7.0 sysbuild build (peripheral_lbs + ipc_radio on nRF5340)"
        )
        self.say(f"work directory: {workdir} (deleted at the end)")

    def event(self, event: Event) -> None:
        data = event.data
        kind = event.kind
        if kind == "demo-keys":
            self.console.print(f"[bold yellow]{data['label']}[/]", highlight=False)
            self.say(f"  signing key (ECDSA-P256):    {data['signing']}")
            self.say(f"  encryption key (ECIES-P256): {data['encryption']}")
        elif kind == "preflight":
            verdict = "passed" if data["ok"] else "REFUSED"
            self.say(f"preflight {verdict}")
            for finding in data["findings"]:
                self.say(f"  {finding['severity']} [{finding['code']}] {finding['message']}")
        elif kind == "seal":
            for output in data["outputs"]:
                if output["role"] == "dfu":
                    self.say(f"sealed: {Path(output['path']).name} (application core, encrypted)")
            for kept in data["kept"]:
                self.say(f"kept: {Path(kept['path']).name}: {kept['why']}")
        elif kind == "device-start":
            running = ", ".join(f"image {i}: {v}" for i, v in data["running"].items())
            extra = ""
            if "reset_vector_check" in data:
                extra = (
                    f"; its MCUboot routes updates by the reset vector "
                    f"(> {data['reset_vector_check']} means network core)"
                )
            self.say(
                f"virtual MCUboot device {data['name']!r} running {running}{extra}; "
                "connecting over the virtual BLE link"
            )
        elif kind == "device":
            self.say(f"  device: {_device_line(data)}")
        elif kind == "hazard-retry":
            self.say(f"  reset vector {data['reset_vector']}: {data['why']}")

    def dfu(self, event: Event) -> None:
        """A DFU event, as one line (when there are no progress bars)."""
        from mcuseal.cli.dfu import _describe

        data = event.data
        if event.kind == "upload-done":
            self.say(
                f"image {data['image']}: uploaded {data['size']} B in {data['elapsed_s']} s "
                f"({data['rate_kBps']} kB/s)"
            )
        elif event.kind in ("resume", "mark", "reset", "reconnect", "confirm"):
            self.say(_describe(event))

    def closing(self, result: DemoResult) -> None:
        from rich.table import Table

        table = Table(title="what the device runs now", title_justify="left")
        for column in ("image", "before", "after", "encrypted", "hash", "bytes", "throughput"):
            table.add_column(column, no_wrap=column in ("before", "after", "bytes"))
        table.add_column("bootloader verdict")
        table.add_column("state", no_wrap=True)
        for row in result.rows:
            table.add_row(
                f"{row.image} {row.name}",
                row.version_before,
                row.version_after,
                "yes" if row.encrypted else "no",
                row.hash[:16],
                str(row.size),
                f"{row.rate_bps / 1000:.1f} kB/s",
                row.verdict,
                row.state,
            )
        if self.console.is_terminal:
            self.console.print(table)
        else:
            from rich.console import Console

            # A log or a pipe has no width: rich would assume 80 columns and wrap every
            # cell; keep each image on one line instead.
            Console(width=max(self.console.width, 150), highlight=False).print(table)
        verdict = "[bold green]done[/]" if result.ok else "[bold red]the update did not finish[/]"
        self.console.print(
            f"{verdict} in {result.elapsed_s:.1f} s (throughput over the in-process virtual "
            "link: no radio latency)",
            highlight=False,
        )
        self.say(
            "Next: 'mcuseal check -d BUILD' and 'mcuseal seal -d BUILD --encrypt' on your own "
            "build, 'mcuseal dfu --name DEVICE upload BUILD/dfu_application.zip' to a board; "
            "'mcuseal demo --show-hazard' for the failure the preflight prevents."
        )

    def hazard(self, result: HazardResult) -> None:
        self.say("")
        self.say(
            f"The encrypted application image's word at ih_hdr_size + 4 is "
            f"0x{result.reset_vector:08x}: ciphertext, not a reset vector."
        )
        if result.misrouted:
            self.say(
                f"MCUboot compared it with b0n's address 0x{result.b0n_addr:08x}, took the "
                "application image for a network-core image and handed it over; the "
                f"application core still runs {result.running_after}."
            )
        else:
            self.say("The device did not misroute the image this time.")
        if result.dfu_error:
            self.say(f"mcuseal dfu reported: {result.dfu_error}")
        if result.prevented_by is not None:
            self.console.print(
                "[bold]The preflight ('mcuseal check', 'mcuseal seal') would have refused this "
                "build:[/]",
                highlight=False,
            )
            self.say(f"  error [{result.prevented_by.code}] {result.prevented_by.message}")
        if result.as_intended:
            self.console.print(
                "[bold green]replay complete[/]: the failure happened as it does on hardware, "
                "and the preflight catches it before release",
                highlight=False,
            )
        else:
            self.console.print("[bold red]the replay did not show the failure[/]")


def _device_line(data: dict[str, Any]) -> str:
    kind = data["device_event"]
    image = data.get("image")
    if kind == "verdict":
        outcome = "accepted" if data.get("accepted") else "REJECTED"
        version = data.get("version", "")
        return f"MCUboot checked image {image} {version}: {outcome} ({data['reason']})"
    if kind == "overwrite":
        return f"MCUboot installed image {image} {data.get('version', '')} (overwrite)"
    if kind == "swap":
        return f"MCUboot swapped in image {image} {data.get('version', '')}"
    if kind == "erase":
        return f"MCUboot erased image {image}'s secondary slot: {data.get('reason', '')}"
    if kind == "boot":
        return f"booting image {image} {data.get('version', '')}"
    if kind == "netcore-route":
        return (
            f"MCUboot read {data['reset_vector']} at ih_hdr_size + 4 (> {data['b0n_addr']}): "
            "handed image 0 to the NETWORK CORE"
        )
    return str(kind)
