"""Shared output helpers for CLI commands: the only place mcuseal prints.

Human output goes through rich on stdout; warnings and errors go to stderr through the
``mcuseal`` logger; ``--json`` output is one JSON document (or, for streams, one JSON
object per line) on stdout.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def stdout() -> Console:
    from rich.console import Console

    # No file=: rich then looks up sys.stdout at every write, so a redirected or
    # captured stdout (pytest's capsys, contextlib.redirect_stdout) is honoured.
    return Console(highlight=False, soft_wrap=True)


@cache
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def line(text: str) -> None:
    """Print one line of plain text on stdout, verbatim (no markup, no rich import).

    For one-line summaries of commands that run many times in a build (``sign``): importing
    rich would cost more than the rest of a small command's start-up.
    """
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_json(obj: Any) -> None:
    """Print *obj* as one indented JSON document on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_default) + "\n")
    sys.stdout.flush()


def print_json_event(obj: Any) -> None:
    """Print *obj* as one compact JSON line on stdout (event streams)."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=_default) + "\n")
    sys.stdout.flush()


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
