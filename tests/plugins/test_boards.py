"""Board presets and 'mcuseal xip plan'."""

from __future__ import annotations

import json
import shlex

import pytest

from mcuseal.cli import main
from mcuseal.errors import UsageError
from mcuseal.plugins import XipMode, XipRequest, build_manager
from mcuseal.plugins.boards import boards, load_board, plan

EXPECTED = {
    "mimxrt1060_evkb",
    "mimxrt1060_evkc",
    "evkb_imxrt1050",
    "frdm_rw612",
    "rd_rw612_bga",
    "frdm_mcxn947",
}


def test_every_preset_loads_and_its_engine_builds() -> None:
    assert set(boards()) == EXPECTED
    manager = build_manager(load_external=False)
    for board in boards().values():
        engine = manager.get(board.engine)()
        for mode in board.modes:
            assert mode in engine.caps.modes, (board.name, mode)
            engine.build(XipRequest(board.layout, mode))


def test_unverified_values_are_marked_in_the_data() -> None:
    rt1050 = load_board("EVKB-IMXRT1050")
    assert {"sector_size", "meta0"} <= set(rt1050.unverified)
    rows = dict(plan(rt1050, "overwrite-only").layout)
    assert rows["sector / page"].endswith("(UNVERIFIED)")


def _sign_args(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[:2] == ["mcuseal", "sign"]
    return words[2:]


def test_overwrite_only_plan_signs_and_encrypts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xip", "plan", "--board", "mimxrt1060_evkb", "--mode", "overwrite-only"]) == 0
    out = capsys.readouterr().out
    expected = (
        "mcuseal sign --key root-ec-p256.pem --align 4 --header-size 0x400 --pad-header "
        "--slot-size 0x200000 --max-sectors 800 --version 1.0.0 -E enc-ec256-pub.pem "
        "app.bin app.signed.encrypted.bin"
    )
    assert expected in out
    first = expected.replace(" -E enc-ec256-pub.pem", "").replace(".signed.encrypted", ".signed")
    assert first in out
    assert "0x60440000" in out and "mcuseal xip bee build --board mimxrt1060_evkb" in out


def test_flash_remap_plan_signs_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xip", "plan", "--board", "frdm_rw612", "--mode", "flash-remap", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    args = _sign_args(doc["sign_command"])
    assert "-E" not in args and args[-1] == "app.signed.bin"
    assert doc["first_image_command"] == doc["sign_command"]
    assert doc["layout"]["metadata slot 1"] == "0x08441000"
    assert XipMode(doc["mode"]) is XipMode.FLASH_REMAP


def test_unknown_board_and_unsupported_mode() -> None:
    with pytest.raises(UsageError, match="known boards: "):
        load_board("nrf52840dk")
    with pytest.raises(UsageError, match="supports overwrite-only, not flash-remap"):
        plan(load_board("mimxrt1060_evkb"), "flash-remap")
    assert main(["xip", "plan", "--board", "nope"]) == 2


def test_engine_build_from_board(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xip", "npx", "build", "--board", "frdm_mcxn947", "-o", str(tmp_path)]) == 0
    assert "context 1" in capsys.readouterr().out
    assert main(["xip", "bee", "build", "--board", "frdm_rw612"]) == 2
    assert "uses engine iped" in capsys.readouterr().err
