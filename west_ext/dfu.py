"""``west dfu``: a thin adapter over ``mcuseal dfu`` (same options, same exit codes).

west imports this file by path, so it holds no logic: it builds the parser with
:func:`mcuseal.cli.dfu.configure` and runs :func:`mcuseal.cli.dfu.run`.
"""

from __future__ import annotations

import argparse
from typing import Any

from west.commands import CommandError, WestCommand

from mcuseal.cli import _setup_logging
from mcuseal.cli import dfu as dfu_cli
from mcuseal.errors import McusealError


class Dfu(WestCommand):
    def __init__(self) -> None:
        # Help text lives in west-commands.yml (west ignores it here for extensions).
        super().__init__("dfu", "", dfu_cli.DESCRIPTION, requires_workspace=False)

    def do_add_parser(self, parser_adder: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parser_adder.add_parser(
            self.name, help=dfu_cli.HELP, description=self.description
        )
        dfu_cli.configure(parser)
        return parser

    def do_run(self, args: argparse.Namespace, unknown_args: list[str]) -> None:
        _setup_logging(max(0, int(self.verbosity) - 3))
        try:
            code = dfu_cli.run(args)
        except McusealError as err:
            self.err(str(err))
            raise CommandError(err.exit_code) from None
        if code:
            raise CommandError(code)
