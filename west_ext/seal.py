"""``west seal``: a thin adapter over ``mcuseal seal`` (all logic lives in the mcuseal package).

west imports this file by path (``west-commands.yml`` at the repository root), so it uses
absolute imports of the installed ``mcuseal`` only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from west.commands import WestCommand

DESCRIPTION = """\
Sign and encrypt the images of a Zephyr or nRF Connect SDK build for MCUboot, with the
geometry and keys the build is configured with, after checking that MCUboot will accept
and route an encrypted image (nRF5340 network-core routing, MCUboot's key, AES size, mode).

Outputs are named as the SDK names them: <app>/zephyr/zephyr.signed.encrypted.{bin,hex},
a factory hex made with --encrypt KEY --clear, merged.factory.hex, and dfu_application.zip
rewritten in place. A refusal exits 1 and writes nothing; --force proceeds anyway.

Zephyr's own 'west sign' owns the name 'sign'; run 'west seal --install-alias' once to make
'west sign --encrypt' run this command (west config alias.sign seal).
"""


class Seal(WestCommand):
    def __init__(self) -> None:
        # Help text comes from west-commands.yml; west ignores this one for extensions.
        super().__init__("seal", "", DESCRIPTION)

    def do_add_parser(self, parser_adder):  # type: ignore[no-untyped-def]
        from mcuseal.cli.seal import configure

        parser: argparse.ArgumentParser = parser_adder.add_parser(
            self.name,
            help=self.help,
            description=self.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        configure(parser)
        parser.add_argument(
            "--install-alias",
            action="store_true",
            help="set 'west config alias.sign seal' in this workspace so 'west sign --encrypt' "
            "runs west seal, then exit",
        )
        return parser

    def do_run(self, args: argparse.Namespace, unknown: list[str]) -> None:
        if args.install_alias:
            self.config.set("alias.sign", "seal")
            self.inf(
                "'west sign' now runs 'west seal' in this workspace (alias.sign = seal in "
                ".west/config); undo with 'west config -d alias.sign'"
            )
            return
        from mcuseal.cli import _setup_logging
        from mcuseal.cli.seal import run
        from mcuseal.errors import McusealError

        _setup_logging(max(0, int(self.verbosity) - 3))  # west -v (DBG) = mcuseal -v
        args.verbose = 0
        if args.topdir is None and self.topdir:
            args.topdir = Path(self.topdir)
        try:
            run(args)
        except McusealError as err:
            self.die(str(err), exit_code=err.exit_code)
