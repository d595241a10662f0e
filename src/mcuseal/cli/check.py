"""``mcuseal check``: read a build directory, print the signing plan and the preflight findings.

Writes nothing.  Exit 0 when ``mcuseal seal`` would proceed, 1 when the preflight refuses.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mcuseal.cli._keyargs import add_key_options

if TYPE_CHECKING:
    from mcuseal.build import PreflightReport, SealPlan

HELP = "check a Zephyr/NCS build directory for encrypted signing (plan + preflight)"
DESCRIPTION = (
    "Read a Zephyr or nRF Connect SDK build directory, print the signing plan mcuseal "
    "derives from it (per image: slot size, header size, align, version, image number) and "
    "run the preflight checks. Nothing is written. Exit 1 when 'mcuseal seal' would refuse."
)


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``check`` and ``seal`` (and ``west seal``)."""
    parser.add_argument(
        "-d",
        "--build-dir",
        type=Path,
        default=None,
        help="build directory written by 'west build' (default: the current directory when it "
        "is one, as west build finds it, else build)",
    )
    parser.add_argument(
        "-E",
        "--encrypt",
        dest="encrypt",
        nargs="?",
        const="",
        default=None,
        metavar="KEY",
        help="encrypt; with KEY, use that public/private key (default: the key the build is "
        "configured with)",
    )
    parser.add_argument(
        "-k",
        "--key",
        type=Path,
        default=None,
        help="signing key file or pkcs11: URI (default: the build's)",
    )
    parser.add_argument(
        "--topdir",
        type=Path,
        default=None,
        help="west workspace top directory for relative key paths (default: found from -d)",
    )
    parser.add_argument(
        "--encrypt-netcore",
        action="store_true",
        help="EXPERIMENTAL: also encrypt the nRF5340 network-core image (needs simultaneous "
        "multi-image update)",
    )
    add_key_options(parser)  # -k/-E may name keys in a PKCS#11 token


def configure(parser: argparse.ArgumentParser) -> None:
    add_build_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def plan_from_args(args: argparse.Namespace) -> SealPlan:
    from mcuseal.build import make_plan, read_build

    build_dir = args.build_dir
    if build_dir is None:
        # west build's own lookup: the current directory if it is a build directory.
        build_dir = Path() if (Path("zephyr") / ".config").is_file() else Path("build")
    return make_plan(
        read_build(build_dir),
        topdir=args.topdir,
        encryption_key=Path(args.encrypt) if args.encrypt else None,
        signature_key=args.key,
        encrypt_netcore=args.encrypt_netcore,
    )


def run(args: argparse.Namespace) -> int:
    from mcuseal.cli._keyargs import key_options
    from mcuseal.keys.providers import using_options

    with using_options(key_options(args)):  # --pkcs11-module etc. for keys read deep down
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from mcuseal.build import run_preflight
    from mcuseal.cli import _output

    plan = plan_from_args(args)
    report = run_preflight(plan, encrypt_netcore=args.encrypt_netcore)
    if args.json:
        doc = plan.to_json()
        doc["findings"] = report.to_json()
        doc["ok"] = report.ok
        _output.print_json(doc)
    else:
        print_plan(plan, report)
    return 0 if report.ok else 1


def print_plan(plan: SealPlan, report: PreflightReport | None) -> None:
    """The human form of a plan and its findings (rich, stdout)."""
    from rich.markup import escape
    from rich.table import Table

    from mcuseal.cli import _output

    out = _output.stdout()
    build = plan.build
    mb = plan.mcuboot
    out.print(f"[bold]{build.build_dir}[/]: {plan.flavour.value} ({build.version})")
    if mb.present:
        out.print(
            f"MCUboot: {mb.mode.value}, encryption "
            + (f"on ({mb.scheme}, AES-{mb.aes_bits})" if mb.encrypt else "[red]off[/]")
            + f", {mb.updateable_images} updateable image(s)"
            + (", simultaneous multi-image" if mb.nrf53_multi_image else "")
        )
    for label, ref in (
        ("encryption key", plan.encryption_key),
        ("signing key", plan.signature_key),
    ):
        out.print(f"{label}: " + (f"{ref.path} ({ref.source})" if ref else "none"))
    table = Table(show_header=True, header_style="bold")
    for column in ("image", "#", "slot size", "header", "align", "version", "input", "action"):
        table.add_column(column)
    for image in plan.images:
        action = "sign + encrypt" if image.encrypt else "reuse as the SDK signed it"
        table.add_row(
            image.name,
            str(image.image_number),
            hex(image.slot_size),
            hex(image.header_size) + (" (pad)" if image.pad_header else ""),
            str(image.align),
            image.version,
            image.input_path.name,
            action,
        )
    out.print(table)
    for note in plan.notes:
        out.print(escape(f"note: {note}"))
    if report is None:
        return
    styles = {"error": "bold red", "warning": "yellow", "info": "dim"}
    for finding in report.findings:
        style = styles[finding.severity.value]
        text = escape(f"[{finding.code}] {finding.message}")
        out.print(f"[{style}]{finding.severity.value}[/] {text}")
    out.print("[green]preflight passed[/]" if report.ok else "[bold red]preflight refused[/]")
