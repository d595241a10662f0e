#!/usr/bin/env python3
"""Sign + encrypt side by side with imgtool: wall time, peak RSS, start-up time.

Runs ``imgtool sign`` and ``mcuseal sign`` with the same arguments (ECDSA-P256 signing,
ECIES-P256 encryption, AES-128) on random payloads of 1, 16 and 64 MiB, each tool as its
own subprocess.  Peak RSS is the child's ``ru_maxrss`` from ``os.wait4``, so each figure
belongs to exactly one run.  Start-up is ``mcuseal --version`` against ``imgtool version``.

Usage (from the repository root)::

    .venv/bin/python bench/sign_vs_imgtool.py [--sizes 1 16 64] [--repeat 3] [--json]

Both tools come from the same environment as the interpreter running this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

MIB = 1024 * 1024
HEADER_SIZE = 0x200


@dataclass
class Run:
    tool: str
    case: str
    wall_s: float
    peak_rss_mib: float


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        sys.exit(f"error: {path} not found; install the dev extras: pip install -e '.[dev]'")
    return str(path)


# Both tools run as installed: with bytecode caches.  An editable mcuseal under
# PYTHONDONTWRITEBYTECODE=1 would otherwise recompile its sources on every run while
# imgtool's site-packages .pyc files exist, which measures the environment, not the tool.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(argv: list[str]) -> tuple[float, float]:
    """Run *argv*; return (wall seconds, peak RSS MiB) of that child alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(argv)} exited {proc.returncode}:\n{err}")
    # ru_maxrss is KiB on Linux.
    return wall, usage.ru_maxrss / 1024


def _write_random(path: Path, size: int) -> None:
    # In chunks: a child's ru_maxrss includes what it shared with this process before exec,
    # so the bench itself must never hold a whole payload.
    with path.open("wb") as out:
        for _ in range(size // MIB):
            out.write(os.urandom(MIB))


def _keys(workdir: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    # Fresh keys: mcuseal refuses MCUboot's published sample keys.
    paths = []
    for name in ("sign-p256.pem", "enc-p256.pem"):
        key = ec.generate_private_key(ec.SECP256R1())
        path = workdir / name
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        paths.append(path)
    return paths[0], paths[1]


def _sign_args(infile: Path, outfile: Path, size: int, sign_key: Path, enc_key: Path) -> list[str]:
    slot_size = (size + HEADER_SIZE + MIB) // MIB * MIB
    return [
        "sign",
        "-k", str(sign_key),
        "-E", str(enc_key),
        "-H", hex(HEADER_SIZE),
        "--pad-header",
        "-S", hex(slot_size),
        "--align", "4",
        "-v", "1.2.3+4",
        str(infile),
        str(outfile),
    ]  # fmt: skip


def bench(sizes_mib: list[int], repeat: int) -> tuple[list[Run], dict[str, float]]:
    imgtool, mcuseal = _tool("imgtool"), _tool("mcuseal")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="mcuseal-bench-") as tmp:
        workdir = Path(tmp)
        sign_key, enc_key = _keys(workdir)
        # Warm-up: fills bytecode caches and the page cache for both tools.
        warm = workdir / "warm.bin"
        _write_random(warm, MIB)
        for exe in (imgtool, mcuseal):
            _run([exe, *_sign_args(warm, workdir / "warm.out", MIB, sign_key, enc_key)])
        for size_mib in sizes_mib:
            size = size_mib * MIB
            infile = workdir / f"payload-{size_mib}.bin"
            _write_random(infile, size)
            for _ in range(repeat):
                for tool, exe in (("imgtool", imgtool), ("mcuseal", mcuseal)):
                    out = workdir / f"{tool}-{size_mib}.bin"
                    wall, rss = _run([exe, *_sign_args(infile, out, size, sign_key, enc_key)])
                    runs.append(Run(tool, f"{size_mib} MiB", wall, rss))
                    out.unlink()
            infile.unlink()
        startup = {
            "imgtool": min(_run([imgtool, "version"])[0] for _ in range(max(repeat, 5))),
            "mcuseal": min(_run([mcuseal, "--version"])[0] for _ in range(max(repeat, 5))),
        }
    return runs, startup


def _summary(runs: list[Run], case: str, tool: str) -> tuple[float, float]:
    mine = [r for r in runs if r.case == case and r.tool == tool]
    return statistics.median(r.wall_s for r in mine), max(r.peak_rss_mib for r in mine)


def _paired_wall_ratio(runs: list[Run], case: str) -> float:
    """Median of mcuseal/imgtool over back-to-back pairs: robust to load on a shared machine."""
    theirs = [r.wall_s for r in runs if r.case == case and r.tool == "imgtool"]
    ours = [r.wall_s for r in runs if r.case == case and r.tool == "mcuseal"]
    return statistics.median(o / t for o, t in zip(ours, theirs, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 64], metavar="MIB")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and size")
    parser.add_argument("--json", action="store_true", help="print raw figures as JSON")
    args = parser.parse_args()
    runs, startup = bench(args.sizes, args.repeat)
    if args.json:
        print(json.dumps({"runs": [asdict(r) for r in runs], "startup_s": startup}, indent=2))
        return 0
    print(
        f"ECDSA-P256 sign + ECIES-P256/AES-128 encrypt, median wall of {args.repeat} runs; "
        "wall ratio = median of back-to-back pairs"
    )
    print(
        f"{'payload':>8} | {'imgtool s':>9} {'mcuseal s':>9} {'ratio':>6} | "
        f"{'imgtool MiB':>11} {'mcuseal MiB':>11} {'ratio':>6}"
    )
    for size_mib in args.sizes:
        case = f"{size_mib} MiB"
        it_wall, it_rss = _summary(runs, case, "imgtool")
        mc_wall, mc_rss = _summary(runs, case, "mcuseal")
        print(
            f"{case:>8} | {it_wall:9.3f} {mc_wall:9.3f} {_paired_wall_ratio(runs, case):6.2f} | "
            f"{it_rss:11.1f} {mc_rss:11.1f} {mc_rss / it_rss:6.2f}"
        )
    it_start, mc_start = startup["imgtool"], startup["mcuseal"]
    print(
        f"start-up (best of {max(args.repeat, 5)}): imgtool version {it_start:.3f} s, "
        f"mcuseal --version {mc_start:.3f} s, ratio {mc_start / it_start:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
