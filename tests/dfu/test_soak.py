"""A small seeded fault soak (the large one is bench/dfu_soak.py)."""

from __future__ import annotations

import pytest

from mcuseal.dfu.soak import soak_once


@pytest.mark.parametrize("seed", [0, 1, 4, 5, 12, 15])
async def test_seeded_faults_end_cleanly(seed: int) -> None:
    run = await soak_once(seed, max_size=40_000)
    assert run.violations == []
    assert run.ok or (run.error and "\n" not in run.error)
    if run.faults["bootloader_refuses"]:
        assert not run.ok and "does not run" in (run.error or "")
