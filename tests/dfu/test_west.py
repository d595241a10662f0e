"""``west dfu``: the extension file loaded by path as west loads it, run in-process."""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from west.commands import CommandError
from west.configuration import Configuration

from tests.dfu.conftest import RunningSim
from tests.dfu.fakes import fake_image

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("west_ext_dfu", ROOT / "west_ext" / "dfu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(argv: list[str]) -> tuple[object, argparse.Namespace]:
    command = _load().Dfu()
    top = argparse.ArgumentParser(prog="west")
    command.do_add_parser(top.add_subparsers())
    return command, top.parse_args(["dfu", *argv])


def _run(command: object, args: argparse.Namespace) -> None:
    # as west's main does: run() with the configuration, which calls do_run()
    command.run(args, [], None, config=Configuration())  # type: ignore[attr-defined]


def test_manifest_entry_names_the_class() -> None:
    spec = yaml.safe_load((ROOT / "west-commands.yml").read_text())
    entries = [e for e in spec["west-commands"] if e["file"] == "west_ext/dfu.py"]
    assert [c["class"] for c in entries[0]["commands"]] == ["Dfu"]
    assert hasattr(_load(), "Dfu")


def test_west_dfu_list_json(
    sim_thread: Callable[..., RunningSim], capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_thread(primary=[fake_image(3000, version=(7, 1, 0, 0))])
    command, args = _parse(["--udp", sim.udp, "list", "--json"])
    _run(command, args)
    images = json.loads(capsys.readouterr().out)["images"]
    assert images[0]["version"] == "7.1.0"


def test_west_dfu_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "zephyr.bin"
    bad.write_bytes(b"\x00" * 64)
    command, args = _parse(["--udp", "127.0.0.1:9", "upload", str(bad)])
    with pytest.raises(CommandError) as info:
        _run(command, args)
    assert info.value.returncode == 2
    assert "not an MCUboot image" in capsys.readouterr().err
