from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuseal.build.kconfig import DotConfig
from mcuseal.errors import BuildError


def test_values_of_every_form() -> None:
    cfg = DotConfig.loads(
        "#\n# comment\n#\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=0x200\n"
        'CONFIG_D="a \\"quoted\\" \\\\ path"\nCONFIG_E=-1\nCONFIG_F=""\nCONFIG_G=n\n'
    )
    assert cfg.is_set("CONFIG_A")
    assert "CONFIG_B" in cfg and not cfg.is_set("CONFIG_B")
    assert "CONFIG_Z" not in cfg
    assert cfg.integer("CONFIG_C") == 0x200
    assert cfg.string("CONFIG_D") == 'a "quoted" \\ path'
    assert cfg.integer("CONFIG_E") == -1
    assert cfg.string("CONFIG_F") == ""
    assert cfg.is_set("CONFIG_G") is False
    assert cfg.integer("CONFIG_MISSING", 4) == 4


def test_pm_config_dialect() -> None:
    pm = DotConfig.loads('PM_MCUBOOT_PAD_SIZE=0x200\nPM_MCUBOOT_NAME="mcuboot"\n')
    assert pm.require_int("PM_MCUBOOT_PAD_SIZE") == 0x200
    with pytest.raises(BuildError, match="has no PM_APP_ADDRESS"):
        pm.require_int("PM_APP_ADDRESS")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("CONFIG_A\n", "not a Kconfig line"),
        ('CONFIG_A="unterminated\n', "unterminated"),
        ("CONFIG_A=hello world\n", "neither y/n"),
        ("garbage ;;\n", "not a Kconfig line"),
    ],
)
def test_corrupt_lines_name_the_line(text: str, match: str) -> None:
    with pytest.raises(BuildError, match=match) as info:
        DotConfig.loads(text, "build/zephyr/.config")
    assert "build/zephyr/.config:1" in str(info.value)


def test_non_integer_value_is_an_error() -> None:
    cfg = DotConfig.loads('CONFIG_X="abc"\n')
    with pytest.raises(BuildError, match="not an integer"):
        cfg.integer("CONFIG_X")


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="is missing"):
        DotConfig.load_file(tmp_path / ".config")
    bad = tmp_path / "bin.config"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BuildError, match="cannot read"):
        DotConfig.load_file(bad)


@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_raises_build_error(text: str) -> None:
    try:
        cfg = DotConfig.loads(text)
    except BuildError:
        return
    for name in cfg.values:
        assert name.replace("_", "").isalnum()
