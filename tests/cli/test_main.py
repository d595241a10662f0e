"""The top-level command: help, version, unknown commands, start-up cost."""

from __future__ import annotations

import subprocess
import sys

from mcuseal import __version__
from mcuseal.cli import COMMANDS, main


def test_version_prints_and_imports_nothing_heavy() -> None:
    code = (
        "import sys; from mcuseal.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('cryptography', 'rich', 'bleak', 'bumble', 'asyncio', 'smpclient')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"mcuseal {__version__}" in out.stdout
    assert "HEAVY []" in out.stdout


def test_help_lists_every_command(capsys: object) -> None:
    assert main([]) == 0
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    for name in COMMANDS:
        assert name in captured.out


def test_unknown_command_exits_2(capsys: object) -> None:
    try:
        main(["no-such-command"])
    except SystemExit as exc:
        assert exc.code == 2
    else:  # pragma: no cover
        raise AssertionError("expected SystemExit")
    assert "unknown command" in capsys.readouterr().err  # type: ignore[attr-defined]
