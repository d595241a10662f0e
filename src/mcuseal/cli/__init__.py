"""The ``mcuseal`` command line.

Each command lives in its own module under ``mcuseal.cli`` and is imported only when it
runs, so ``mcuseal --version`` and ``mcuseal --help`` import nothing heavy.  A command
module provides::

    HELP: str                                   # one line for ``mcuseal --help``
    def configure(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...

``run`` returns the exit code.  It raises :class:`mcuseal.errors.McusealError` for
anything the user can fix; :func:`main` turns that into one line on stderr and the
error's exit code.  Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

# name -> (module, one-line help).  Keep the help here too: listing commands must not
# import them.
COMMANDS: dict[str, tuple[str, str]] = {}
ALIASES: dict[str, str] = {}

_log = logging.getLogger("mcuseal")


def _register(name: str, module: str, help_text: str, *aliases: str) -> None:
    COMMANDS[name] = (module, help_text)
    for alias in aliases:
        ALIASES[alias] = name


# Commands register here as they land (one line each).
_register(
    "sign", "mcuseal.cli.sign", "sign and encrypt an image (imgtool sign's options)", "create"
)
_register("verify", "mcuseal.cli.verify", "check an image as the bootloader would (encrypted too)")
_register("decrypt", "mcuseal.cli.decrypt", "decrypt an image with the device key")
_register("info", "mcuseal.cli.info", "show an image's header, TLVs and trailer")
_register("keygen", "mcuseal.cli.keys", "generate a signing/encryption key or an AES-KW KEK")
_register("getpub", "mcuseal.cli.keys", "print a public key (pem, raw, lang-c, lang-rust)")
_register("getpubhash", "mcuseal.cli.keys", "print the SHA-256 of a public key (KEYHASH)")
_register("getpriv", "mcuseal.cli.keys", "print a device decryption key as MCUboot's C array")
_register("key", "mcuseal.cli.key", "key audits: 'key fingerprint KEY' prints MCUboot's KEYHASH")
_register("check", "mcuseal.cli.check", "check a Zephyr/NCS build directory for encrypted signing")
_register("seal", "mcuseal.cli.seal", "sign + encrypt a Zephyr/NCS build directory (west seal)")
_register("xip", "mcuseal.cli.xip", "NXP encrypted XIP: engines, plans, metadata, nxpimage")
_register("dfu", "mcuseal.cli.dfu", "deliver images over BLE, UDP or serial (SMP/MCUmgr)")
_register("sim", "mcuseal.cli.sim", "run a virtual MCUboot device to test and rehearse DFU")
_register("demo", "mcuseal.cli.demo", "see an encrypted nRF5340 update end to end, no board")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _top_parser() -> argparse.ArgumentParser:
    from mcuseal import __version__

    width = max(len(n) for n in COMMANDS) if COMMANDS else 8
    lines = [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    parser = argparse.ArgumentParser(
        prog="mcuseal",
        description="Encrypted firmware updates for MCUboot devices, end to end.",
        epilog="commands:\n"
        + "\n".join(lines)
        + "\n\nRun 'mcuseal COMMAND --help' for a command's options.\n"
        "Exit codes: 0 ok, 1 rejected (verification/preflight), 2 usage or bad input, "
        "3 device/transport failure.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"mcuseal {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        dest="verbose",
        action="count",
        default=0,
        help="more log output (-vv for debug, -vvv adds the libraries' own logs)",
    )
    parser.add_argument("command", nargs="?", metavar="COMMAND", help="the command to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelPrefixFormatter())
    ours = logging.getLogger("mcuseal")
    ours.handlers[:] = [handler]
    ours.setLevel(level)
    ours.propagate = False
    # Libraries we drive (smpclient, bumble, bleak) log their own view of failures that
    # mcuseal reports in one line; show them only at -vvv, instead of letting Python's
    # last-resort handler print them.
    third_party = logging.getLogger()
    third_party.handlers[:] = [handler] if verbosity >= 3 else [logging.NullHandler()]
    third_party.setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)


class _LevelPrefixFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {msg}"
        if record.levelno >= logging.WARNING:
            return f"warning: {msg}"
        return msg


def build_command_parser(name: str) -> tuple[argparse.ArgumentParser, ModuleType]:
    """Return the parser and module of command *name* (aliases resolved)."""
    name = ALIASES.get(name, name)
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"mcuseal {name}", description=getattr(module, "DESCRIPTION", help_text)
    )
    configure = getattr(module, f"configure_{name}", None) or module.configure
    configure(parser)
    return parser, module


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mcuseal`` console script; returns the exit code."""
    from mcuseal.errors import McusealError

    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    ns = top.parse_args(argv)
    if ns.command is None:
        top.print_help()
        return 0
    name = ALIASES.get(ns.command, ns.command)
    if name not in COMMANDS:
        top.error(f"unknown command {ns.command!r}; run 'mcuseal --help' for the list")
    _setup_logging(ns.verbose)
    parser, module = build_command_parser(name)
    args = parser.parse_args(ns.args)
    args.command = name
    args.verbose = ns.verbose
    runner = getattr(module, f"run_{name}", None) or module.run
    try:
        return int(runner(args))
    except McusealError as err:
        _log.error("%s", err)
        return err.exit_code
    except KeyboardInterrupt:
        _log.error("interrupted")
        return 130
