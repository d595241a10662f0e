#!/usr/bin/env python3
"""``mcuseal seal`` (what ``west seal`` runs) on the two-image nRF5340 sample, beside imgtool.

Sample (b) (NCS 2.7 sysbuild, ``peripheral_lbs`` + ``ipc_radio``, simultaneous update) is
copied to a temporary west workspace and sealed repeatedly:

* ``seal()`` in process: read the build, plan, preflight, sign + encrypt the app image,
  factory hex, zip rewrite (network core reused) -- the time beyond start-up;
* the same with ``--encrypt-netcore`` (both images signed and encrypted);
* ``mcuseal seal`` as a subprocess (wall time, start-up included), with ``mcuseal --version``
  as its start-up baseline (``west seal`` is a thin adapter over the same call; west's own
  start-up comes on top);
* the peer: the ``imgtool sign --encrypt`` calls the SDK's CMake would make for the same
  outputs (encrypted .bin, encrypted .hex, --clear factory hex), each its own subprocess.

Usage (from the repository root)::

    .venv/bin/python bench/seal_nrf5340.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "b_ncs27_nrf5340_simultaneous" / "build"
KEYS = REPO / "samples" / "keys"
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _subprocess(argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, env=_ENV, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(argv)} failed:\n{proc.stderr}")


def _workspace(tmp: Path) -> tuple[Path, Path]:
    top = tmp / "ws"
    (top / ".west").mkdir(parents=True)
    (top / ".west" / "config").write_text("[manifest]\npath = mcuseal\nfile = west.yml\n")
    (top / "mcuseal").mkdir()
    (top / "mcuseal" / "samples").symlink_to(REPO / "samples")
    build = top / "build"
    shutil.copytree(SAMPLE, build)
    return top, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import logging

    from mcuseal.build import make_plan, read_build
    from mcuseal.build.seal import SealOptions, seal

    logging.getLogger("mcuseal").setLevel(logging.ERROR)  # the samples' dev-key warnings
    py = sys.executable
    imgtool = str(Path(py).with_name("imgtool"))
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        top, build = _workspace(Path(tmp_name))
        os.chdir(top)

        def in_process(encrypt_netcore: bool) -> None:
            plan = make_plan(read_build(build), encrypt_netcore=encrypt_netcore)
            seal(plan, SealOptions(allow_dev_keys=True, encrypt_netcore=encrypt_netcore))

        in_process(False)  # warm caches and imports
        results["seal_in_process_s"] = _median(lambda: in_process(False), args.repeat)
        results["seal_two_images_in_process_s"] = _median(lambda: in_process(True), args.repeat)
        seal_argv = [py, "-m", "mcuseal", "seal", "-d", str(build), "--encrypt", "--allow-dev-keys"]
        results["mcuseal_seal_wall_s"] = _median(lambda: _subprocess(seal_argv, top), args.repeat)
        results["mcuseal_startup_s"] = _median(
            lambda: _subprocess([py, "-m", "mcuseal", "--version"], top), args.repeat
        )

        app = build / "peripheral_lbs" / "zephyr"
        common = [
            "sign",
            "--version",
            "1.2.3+4",
            "--align",
            "4",
            "--slot-size",
            "0xe0000",
            "--pad-header",
            "--header-size",
            "0x200",
            "-k",
            str(KEYS / "sample-sign-ec-p256.pem"),
        ]
        enc = ["--encrypt", str(KEYS / "sample-enc-ec256-priv.pem")]
        out = Path(tmp_name)
        calls = [
            [imgtool, *common, *enc, str(app / "zephyr.bin"), str(out / "a.bin")],
            [imgtool, *common, *enc, str(app / "zephyr.hex"), str(out / "a.hex")],
            [imgtool, *common, *enc, "--clear", str(app / "zephyr.hex"), str(out / "f.hex")],
        ]

        def imgtool_all() -> None:
            for call in calls:
                _subprocess(call, top)

        results["imgtool_three_calls_wall_s"] = _median(imgtool_all, args.repeat)
        results["imgtool_startup_s"] = _median(
            lambda: _subprocess([imgtool, "version"], top), args.repeat
        )
    results["seal_beyond_startup_s"] = results["mcuseal_seal_wall_s"] - results["mcuseal_startup_s"]
    results["ratio_mcuseal_vs_imgtool_wall"] = (
        results["mcuseal_seal_wall_s"] / results["imgtool_three_calls_wall_s"]
    )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            unit = "" if key.startswith("ratio") else " s"
            print(f"{key:34} {value:8.3f}{unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
