"""``mcuseal seal``: sign and encrypt a Zephyr / NCS build's images, named as the SDK names them.

The same command runs as ``west seal`` (``west_ext/seal.py``) and, through a west alias,
as ``west sign --encrypt``.
"""

from __future__ import annotations

import argparse
import logging

from mcuseal.cli.check import add_build_arguments, plan_from_args, print_plan

HELP = "sign + encrypt a Zephyr/NCS build directory's images (west seal)"
DESCRIPTION = (
    "Read a Zephyr or nRF Connect SDK build directory, check that MCUboot will accept and "
    "route an encrypted image, then write <app>/zephyr/zephyr.signed.encrypted.{bin,hex} (NCS "
    "v1.x: zephyr/app_update.encrypted.bin), a factory hex with the key TLV and --clear, "
    "merged.factory.hex beside merged.hex, and rewrite dfu_application.zip in place. A "
    "refusal exits 1 and writes nothing. Options after '--' go to the image as imgtool options."
)

_log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    add_build_arguments(parser)
    parser.add_argument(
        "-f", "--force", action="store_true", help="turn preflight refusals into warnings"
    )
    parser.add_argument(
        "--allow-dev-keys",
        action="store_true",
        help="accept published development keys (MCUboot's samples, mcuseal's samples)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "imgtool_args", nargs="*", metavar="-- IMGTOOL_ARGS", help="extra imgtool sign options"
    )


def run(args: argparse.Namespace) -> int:
    from mcuseal.cli._keyargs import key_options
    from mcuseal.keys.providers import using_options

    with using_options(key_options(args)):  # --pkcs11-module etc. for keys read deep down
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from mcuseal.build.seal import SealOptions, seal
    from mcuseal.cli import _output
    from mcuseal.errors import UsageError

    if args.encrypt is None:
        raise UsageError(
            "mcuseal seal encrypts: pass --encrypt (the key the build is configured with) or "
            "--encrypt KEY"
        )
    plan = plan_from_args(args)
    result = seal(
        plan,
        SealOptions(
            force=args.force,
            allow_dev_keys=args.allow_dev_keys,
            encrypt_netcore=args.encrypt_netcore,
            extra_args=tuple(args.imgtool_args),
        ),
    )
    for finding in result.warnings:
        _log.warning("[%s] %s", finding.code, finding.message)
    if args.json:
        _output.print_json(result.to_json())
        return 0
    from rich.markup import escape

    out = _output.stdout()
    if args.verbose:
        print_plan(plan, None)
    for output in result.outputs:
        verb = "rewrote" if output.replaced else "wrote"
        extra = ""
        if output.role == "dfu-zip":
            extra = " in place with the encrypted application image"
        out.print(escape(f"{verb} {output.path}{extra}"))
    for path, why in result.kept:
        out.print(escape(f"kept {path}: {why}"))
    for note in result.notes:
        out.print(escape(f"note: {note}"))
    if result.flash is not None:
        out.print(escape(f"flash this for a factory install: {result.flash}"))
    return 0
