"""Large seeded fault soak of ``mcuseal dfu``'s flow against the virtual device.

Every seed draws an image size, frame loss, link drops and resets at random upload
offsets, latency and sometimes a refusing bootloader (see :mod:`mcuseal.dfu.soak`).
Each run must end with the new image running or a clean one-line error, and the device
must never mark a slot whose image is not the file's.

Run::

    .venv/bin/python bench/dfu_soak.py --seeds 200 --max-size 524288
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from mcuseal.dfu.soak import soak_once


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="number of runs")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--min-size", type=int, default=16_384)
    parser.add_argument("--max-size", type=int, default=256 * 1024)
    args = parser.parse_args(argv)
    start = time.monotonic()
    ok = errors = bad = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        run = await soak_once(seed, min_size=args.min_size, max_size=args.max_size)
        if run.violations:
            bad += 1
            print(f"seed {seed}: VIOLATION {run.violations} faults={run.faults}", flush=True)
        elif run.ok:
            ok += 1
        else:
            errors += 1
            print(f"seed {seed}: clean error: {run.error} faults={run.faults}", flush=True)
    elapsed = time.monotonic() - start
    print(
        f"{args.seeds} runs in {elapsed:.0f} s: {ok} installed, {errors} clean errors, "
        f"{bad} invariant violations"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
