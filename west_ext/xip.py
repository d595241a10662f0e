"""``west xip``: a thin adapter over ``mcuseal xip`` (same options, same output).

West loads this file by path, so it imports only the installed ``mcuseal`` package.
"""

from __future__ import annotations

import argparse
from typing import Any

from west.commands import CommandError, WestCommand

from mcuseal.cli import _setup_logging
from mcuseal.cli import xip as xip_cli
from mcuseal.errors import McusealError


class Xip(WestCommand):
    def __init__(self) -> None:
        # Help and description come from west-commands.yml for extensions.
        description = xip_cli.DESCRIPTION.replace("mcuseal xip", "west xip")
        super().__init__("xip", "", description, accepts_unknown_args=False)

    def do_add_parser(self, parser_adder: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parser_adder.add_parser(
            self.name,
            help=self.help,
            description=self.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        xip_cli.configure(parser)
        return parser

    def do_run(self, args: argparse.Namespace, unknown: list[str]) -> None:
        _setup_logging(getattr(args, "verbose", 0) or 0)
        try:
            code = xip_cli.run(args)
        except McusealError as err:
            self.err(str(err))
            raise CommandError(returncode=err.exit_code) from None
        if code:
            raise CommandError(returncode=code)
