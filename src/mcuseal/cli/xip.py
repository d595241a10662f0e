"""``mcuseal xip``: NXP encrypted XIP for MCUboot (engines, board plans, metadata sectors).

Sub-commands::

    mcuseal xip engines                       list engines and what each can make host-side
    mcuseal xip plan --board B --mode M       flash layout and the exact 'mcuseal sign' command
    mcuseal xip meta build|inspect ...        metadata sectors, any engine
    mcuseal xip ENGINE build --board B ...    config blocks, metadata, encrypted data, scripts
    mcuseal xip ENGINE inspect DUMP           check a block dumped from a device
    mcuseal xip ENGINE export -c CONFIG.yaml  what 'nxpimage ENGINE export -c' writes (bee, otfad)
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcuseal.errors import EXIT_OK, EXIT_REJECTED, InputError, UsageError

if TYPE_CHECKING:
    from mcuseal.plugins import EngineManager, Inspection, XipResult

HELP = "NXP encrypted XIP: engines, board plans, metadata sectors, nxpimage exports"
DESCRIPTION = """NXP encrypted XIP for MCUboot: engines, board plans, metadata sectors.

  mcuseal xip engines                       engines and what each makes host-side
  mcuseal xip plan --board B --mode M       flash layout and the exact 'mcuseal sign' commands
  mcuseal xip meta build|inspect ...        metadata sectors, any engine
  mcuseal xip ENGINE build --board B ...    config blocks, metadata, encrypted data, scripts
  mcuseal xip ENGINE inspect DUMP           check a block dumped from a device
  mcuseal xip ENGINE export -c CONFIG.yaml  what 'nxpimage ENGINE export -c' writes (bee, otfad)
"""

_log = logging.getLogger(__name__)


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use 0x... for hex)") from None


def _manager() -> EngineManager:
    from mcuseal.plugins import build_manager

    return build_manager()


def configure(parser: argparse.ArgumentParser) -> None:
    from mcuseal.plugins.metadata import TrailerVersion

    manager = _manager()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.set_defaults(manager=manager)
    sub = parser.add_subparsers(dest="xip_command", metavar="SUBCOMMAND", required=True)

    engines = sub.add_parser("engines", help="list engines and what each can make host-side")
    engines.add_argument("--json", action="store_true", help="machine-readable output")

    plan = sub.add_parser("plan", help="a board's layout and the exact 'mcuseal sign' command")
    plan.add_argument("--board", required=True, help="board preset (see --list)")
    plan.add_argument("--mode", choices=["overwrite-only", "flash-remap"], default="overwrite-only")
    plan.add_argument("--key", default="root-ec-p256.pem", help="signing key in the command")
    plan.add_argument(
        "--enc-key", default="enc-ec256-pub.pem", help="ECIES-P256 encryption key in the command"
    )
    plan.add_argument("--json", action="store_true", help="machine-readable output")

    meta = sub.add_parser("meta", help="build or inspect an encryption-metadata sector")
    meta_sub = meta.add_subparsers(dest="meta_command", metavar="ACTION", required=True)
    mbuild = meta_sub.add_parser("build", help="config block + 0xFF fill + trailer")
    mbuild.add_argument("config_block", type=Path, help="the configuration block file")
    mbuild.add_argument("-o", "--output", type=Path, required=True, help="sector file to write")
    mbuild.add_argument("--sector-size", type=_int, default=0x1000)
    mbuild.add_argument("--page-size", type=_int, default=0x100)
    mbuild.add_argument(
        "--trailer",
        required=True,
        choices=[v.value for v in TrailerVersion],
        help="trailer format: md5-slot (SDK 24.12), sha256-slot (25.0x), sha256 (25.09), "
        "magic (26.06)",
    )
    mbuild.add_argument("--active-slot", type=int, choices=[0, 1], default=0)
    minspect = meta_sub.add_parser("inspect", help="which trailer version, and is it complete")
    minspect.add_argument("dump", type=Path, help="the whole sector, read from flash")
    size = minspect.add_mutually_exclusive_group(required=True)
    size.add_argument("--engine", help="engine whose config block starts the sector")
    size.add_argument("--config-size", type=_int, help="configuration block size in bytes")
    minspect.add_argument("--json", action="store_true", help="machine-readable output")

    for skipped in manager.skipped:
        if skipped.entry_point not in manager.engines:
            # Keep the name known so the user hears why it is missing, not "invalid choice".
            stub = sub.add_parser(skipped.entry_point, help=argparse.SUPPRESS, add_help=False)
            stub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            stub.set_defaults(engine_command="skipped")
    for name, info in manager.engines.items():
        engine = info.engine
        p = sub.add_parser(name, help=engine.description, description=engine.description)
        actions = p.add_subparsers(dest="engine_command", metavar="ACTION", required=True)
        build = actions.add_parser("build", help="everything the host can make for a board")
        build.add_argument("--board", help="board preset (or give the layout options)")
        build.add_argument(
            "--mode", choices=["overwrite-only", "flash-remap"], default="overwrite-only"
        )
        build.add_argument("--image", type=Path, help="signed plain MCUboot image for slot 0")
        build.add_argument(
            "--trailer",
            choices=[v.value for v in TrailerVersion],
            help="metadata trailer version (default: magic, SDK 26.06)",
        )
        build.add_argument("-o", "--output-dir", type=Path, default=Path("."))
        build.add_argument("--json", action="store_true", help="machine-readable output")
        layout = build.add_argument_group("layout (overrides the board preset)")
        for opt in ("flash-base", "slot0", "slot1", "slot-size", "sector-size", "page-size"):
            layout.add_argument(f"--{opt}", type=_int)
        layout.add_argument("--meta0", type=_int, help="metadata sector of slot 0")
        layout.add_argument("--meta1", type=_int, help="metadata sector of slot 1")
        engine.add_arguments(build.add_argument_group(f"{name} options"))
        if engine.caps.parses_dumps:
            insp = actions.add_parser("inspect", help="check a block dumped from a device")
            insp.add_argument("dump", type=Path, help="bytes read from the metadata sector")
            insp.add_argument("--key", help="decryption key, hex (engines with encrypted blocks)")
            insp.add_argument("--json", action="store_true", help="machine-readable output")
            engine.add_arguments(insp.add_argument_group(f"{name} options"))
        if engine.caps.nxpimage_export:
            exp = actions.add_parser(
                "export",
                help=f"write what 'nxpimage {name} export -c CONFIG' writes",
            )
            exp.add_argument("-c", "--config", type=Path, required=True, help="SPSDK YAML/JSON")
            exp.add_argument("--json", action="store_true", help="machine-readable output")
            add = getattr(engine, "add_export_arguments", None)
            if add is not None:
                add(exp)


def run(args: argparse.Namespace) -> int:
    cmd = args.xip_command
    if cmd == "engines":
        return _engines(args)
    if cmd == "plan":
        return _plan(args)
    if cmd == "meta":
        return _meta_build(args) if args.meta_command == "build" else _meta_inspect(args)
    if args.engine_command == "skipped":
        args.manager.get(cmd)  # raises EngineNotFound saying why the plugin was skipped
        raise UsageError(f"engine {cmd!r} is not available")
    if args.engine_command == "build":
        return _build(args)
    if args.engine_command == "inspect":
        return _inspect(args)
    return _export(args)


# --- engines ----------------------------------------------------------------------------


def _engines(args: argparse.Namespace) -> int:
    from mcuseal.cli import _output

    manager: EngineManager = args.manager
    rows: list[dict[str, Any]] = []
    for name, info in manager.engines.items():
        caps = info.engine.caps
        rows.append(
            {
                "name": name,
                "description": info.engine.description,
                "plugin": info.plugin,
                "distribution": f"{info.distribution} {info.version}",
                "builtin": info.builtin,
                "host": sorted(a.value for a in caps.host),
                "device_only": sorted(a.value for a in caps.device_only),
                "device_only_reason": caps.device_only_reason,
                "modes": sorted(m.value for m in caps.modes),
                "families": list(info.engine.families),
                "nxpimage_export": caps.nxpimage_export,
            }
        )
    skipped = [
        {"entry_point": s.entry_point, "distribution": s.distribution, "reason": s.reason}
        for s in manager.skipped
    ]
    if args.json:
        _output.print_json({"engines": rows, "skipped": skipped})
        return EXIT_OK
    from rich.table import Table

    table = Table(title="Encryption engines", show_lines=True)
    for col in ("engine", "from", "host-side", "device only", "modes"):
        table.add_column(col)
    for row in rows:
        device = ", ".join(row["device_only"]) or "-"
        if row["device_only_reason"]:
            device += f"\n({row['device_only_reason']})"
        table.add_row(
            f"{row['name']}\n{row['description']}",
            row["distribution"] + ("" if row["builtin"] else "\n(plugin)"),
            ", ".join(row["host"]) or "-",
            device,
            ", ".join(row["modes"]),
        )
    out = _output.stdout()
    out.print(table)
    for s in skipped:
        out.print(f"skipped plugin {s['entry_point']} ({s['distribution']}): {s['reason']}")
    return EXIT_OK


# --- plan -------------------------------------------------------------------------------


def _plan(args: argparse.Namespace) -> int:
    from mcuseal.cli import _output
    from mcuseal.plugins import boards

    board = boards.load_board(args.board)
    plan = boards.plan(board, args.mode, key=args.key, enc_key=args.enc_key)
    if args.json:
        _output.print_json(plan.as_dict())
        return EXIT_OK
    out = _output.stdout()
    out.print(f"[bold]{board.title}[/bold] ({board.name}), engine {board.engine}, {args.mode}")
    for label, value in plan.layout:
        out.print(f"  {label:<28} {value}")
    for note in plan.notes:
        out.print(f"[yellow]note:[/yellow] {note}")
    out.print("\nSign OTA updates with:")
    out.print(f"  {plan.sign_command}", markup=False)
    out.print("\nSign the first image (programmed into slot 0 directly) with:")
    out.print(f"  {plan.first_image_command}", markup=False)
    out.print("\nThen make the initial-programming files with:")
    out.print(f"  {plan.provision_command}", markup=False)
    return EXIT_OK


# --- meta -------------------------------------------------------------------------------


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {what} {path}: {err.strerror or err}") from None


def _meta_build(args: argparse.Namespace) -> int:
    from mcuseal._io import atomic_write
    from mcuseal.cli import _output
    from mcuseal.plugins.metadata import TrailerVersion, build_sector

    block = _read(args.config_block, "configuration block")
    sector = build_sector(
        block,
        sector_size=args.sector_size,
        version=TrailerVersion(args.trailer),
        page_size=args.page_size,
        active_slot=args.active_slot,
    )
    atomic_write(args.output, sector)
    _output.stdout().print(f"wrote {args.output} ({len(sector):#x} bytes, {args.trailer} trailer)")
    return EXIT_OK


def _meta_inspect(args: argparse.Namespace) -> int:
    from mcuseal.cli import _output
    from mcuseal.plugins.metadata import inspect_sector

    size = args.config_size
    if args.engine:
        size = args.manager.get(args.engine).caps.config_block_size
    report = inspect_sector(_read(args.dump, "dump"), config_size=size)
    doc = {
        "complete": report.complete,
        "versions": [v.value for v in report.versions],
        "sdk": [v.sdk for v in report.versions],
        "active_slot": report.active_slot,
        "problems": list(report.problems),
    }
    if args.json:
        _output.print_json(doc)
    else:
        out = _output.stdout()
        versions = ", ".join(f"{v.value} ({v.sdk})" for v in report.versions) or "none"
        out.print(f"trailer: {versions}")
        if report.active_slot is not None:
            out.print(f"active slot: {report.active_slot}")
        out.print("complete" if report.complete else "NOT complete")
        for p in report.problems:
            out.print(f"  - {p}")
    return EXIT_OK if report.complete else EXIT_REJECTED


# --- engine build / inspect / export ----------------------------------------------------


def _layout(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from mcuseal.plugins import SlotLayout, boards

    base: SlotLayout | None = None
    if args.board:
        board = boards.load_board(args.board)
        if board.engine != args.xip_command:
            raise UsageError(
                f"board {board.name} uses engine {board.engine}, not {args.xip_command}; "
                f"run 'mcuseal xip {board.engine} build --board {board.name}'"
            )
        base = board.layout
    given = {
        "flash_base": args.flash_base,
        "slot0_addr": args.slot0,
        "slot1_addr": args.slot1,
        "slot_size": args.slot_size,
        "sector_size": args.sector_size,
        "page_size": args.page_size,
        "meta0_addr": args.meta0,
        "meta1_addr": args.meta1,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if base is not None:
        return replace(base, **given)
    missing = [
        f"--{k.replace('_addr', '').replace('_', '-')}"
        for k in ("flash_base", "slot0_addr", "slot1_addr", "slot_size", "sector_size", "page_size")
        if k not in given
    ]
    if missing:
        raise UsageError(f"give --board NAME or the layout ({', '.join(missing)} missing)")
    return SlotLayout(**given)


def _print_result(result: XipResult, args: argparse.Namespace, written: Sequence[str]) -> None:
    from mcuseal.cli import _output

    if getattr(args, "json", False):
        _output.print_json(
            {
                "files": [
                    {
                        "path": path,
                        "size": len(f.data),
                        "address": f.address,
                        "description": f.description,
                    }
                    for path, f in zip(written, result.files, strict=True)
                ],
                "facts": dict(result.facts),
                "notes": list(result.notes),
            }
        )
        return
    out = _output.stdout()
    for label, value in result.facts:
        out.print(f"  {label:<22} {value}", markup=False)
    for path, f in zip(written, result.files, strict=True):
        where = f" @ {f.address:#010x}" if f.address is not None else ""
        out.print(f"wrote {path} ({len(f.data)} bytes{where}): {f.description}", markup=False)
    for note in result.notes:
        _log.warning("%s", note)


def _write_all(result: XipResult, folder: Path | None) -> list[str]:
    """Write every file of *result*, or none: a failure leaves no file and no new folder."""
    import contextlib

    from mcuseal._io import atomic_writer

    paths = [Path(f.name) if folder is None else folder / f.name for f in result.files]
    created: list[Path] = []
    try:
        for parent in sorted({p.parent for p in paths}):
            missing = [d for d in (parent, *parent.parents) if not d.exists()]
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise InputError(f"cannot create output folder {parent}: {err.strerror}") from None
            created += missing
        # Every temporary file is written before any is renamed into place.
        with contextlib.ExitStack() as stack:
            for path, f in zip(paths, result.files, strict=True):
                if path.is_dir():
                    raise InputError(f"cannot write {path}: it is a folder")
                try:
                    stack.enter_context(atomic_writer(path)).write(f.data)
                except OSError as err:
                    raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        for d in sorted(created, key=lambda d: len(d.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    return [os.fspath(p) for p in paths]


def _build(args: argparse.Namespace) -> int:
    from mcuseal.plugins import XipMode, XipRequest

    engine_cls = args.manager.get(args.xip_command)
    engine = engine_cls.from_args(args)
    image = _read(args.image, "image") if args.image else None
    request = XipRequest(_layout(args), XipMode(args.mode), image, args.trailer)
    result = engine.build(request)
    _print_result(result, args, _write_all(result, args.output_dir))
    return EXIT_OK


def _inspect(args: argparse.Namespace) -> int:
    from mcuseal.cli import _output

    engine = args.manager.get(args.xip_command).from_args(args)
    key = None
    if args.key:
        try:
            key = bytes.fromhex(args.key.removeprefix("0x"))
        except ValueError:
            raise UsageError(f"--key {args.key!r} is not hex") from None
    verdict: Inspection = engine.inspect(_read(args.dump, "dump"), key=key)
    if args.json:
        _output.print_json(
            {
                "kind": verdict.kind,
                "valid": verdict.valid,
                "fields": dict(verdict.fields),
                "problems": list(verdict.problems),
            }
        )
    else:
        out = _output.stdout()
        out.print(f"{verdict.kind}: {'valid' if verdict.valid else 'NOT valid'}")
        for label, value in verdict.fields:
            out.print(f"  {label:<14} {value}", markup=False)
        for p in verdict.problems:
            out.print(f"  - {p}", markup=False)
    return EXIT_OK if verdict.valid else EXIT_REJECTED


def _export(args: argparse.Namespace) -> int:
    engine = args.manager.get(args.xip_command)()
    overrides: Mapping[str, object] = {
        k: v for k, v in vars(args).items() if k.startswith("nxpimage_") and v is not None
    }
    if not args.config.is_file():
        raise InputError(f"configuration {args.config} does not exist")
    result = engine.export_nxpimage(args.config, overrides)
    _print_result(result, args, _write_all(result, None))
    return EXIT_OK
