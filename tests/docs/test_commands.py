"""Every ``mcuseal`` command line in a fenced block of the README or docs/ parses.

Cheaper than running them: each command and its options must be accepted by the same
argparse parsers ``mcuseal`` uses, so a renamed option or a misspelt command in the
docs fails here.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from mcuseal.cli import ALIASES, COMMANDS, _top_parser, build_command_parser
from tests.docs._blocks import Block, blocks, markdown_files, mcuseal_commands

CASES = [
    pytest.param(block, argv, id=f"{block.where}:{' '.join(argv)[:60]}")
    for path in markdown_files()
    for block in blocks(path)
    for argv in mcuseal_commands(block)
]


def _parse(argv: list[str]) -> None:
    top = _top_parser()
    if not argv or argv[0].startswith("-"):
        top_options = {s for action in top._actions for s in action.option_strings}
        unknown = [a for a in argv if a.startswith("-") and a not in top_options]
        assert not unknown, f"mcuseal has no top-level option {unknown}"
        return
    name = ALIASES.get(argv[0], argv[0])
    assert name in COMMANDS, f"mcuseal has no command {argv[0]!r}"
    parser, _ = build_command_parser(name)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv[1:])
    except SystemExit as stop:
        # --help exits 0; anything else is argparse refusing the line.
        assert stop.code == 0, stderr.getvalue().strip().splitlines()[-1]


def test_docs_have_commands() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize(("block", "argv"), CASES)
def test_command_line_parses(block: Block, argv: list[str]) -> None:
    try:
        _parse(argv)
    except AssertionError as err:
        raise AssertionError(f"{block.where}: mcuseal {' '.join(argv)}: {err}") from None
