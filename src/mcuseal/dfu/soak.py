"""Seeded fault soak: whole DFUs against a misbehaving virtual device.

Each run draws, from its seed, an image size, a loss rate, link drops and resets at
random upload offsets, response latency and sometimes a bootloader that refuses the
image, then runs :func:`mcuseal.dfu.flow.run_dfu` over UDP on 127.0.0.1 and checks:

* the run ends with the new image running (and confirmed), or with a
  :class:`~mcuseal.errors.McusealError`, never another exception;
* the device only ever runs the old or the new image;
* whenever the device marks an image pending, its secondary slot holds exactly the
  file's image: a wrong hash is never marked.

The test suite runs a few seeds; ``bench/dfu_soak.py`` runs many larger ones.
"""

from __future__ import annotations

import hashlib
import random
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from mcuseal.dfu.flow import FlowOptions, run_dfu
from mcuseal.dfu.link import DeviceLink
from mcuseal.dfu.package import IMAGE_HEADER, IMAGE_MAGIC, TLV_INFO_MAGIC, DfuImage, load_image
from mcuseal.dfu.sim import BootVerdict, SimConfig, SimEvent, VirtualDevice
from mcuseal.dfu.transport.udp import frame_cap, udp_connector
from mcuseal.dfu.upload import UploadOptions
from mcuseal.errors import McusealError


class HashOnlyCheck:
    """A boot check that validates only the image's hash TLV against header and body.

    It stands in for MCUboot where signatures are beside the point (the soak exercises
    the transfer); give the virtual device a real check with keys to test signing.
    """

    def check(self, image: bytes, *, image_index: int, slot: int) -> BootVerdict:
        try:
            info = load_image(image, name=f"slot {slot}")
        except McusealError as err:
            return BootVerdict(False, f"not an image: {err}")
        _, _, hdr_size, prot_size, img_size, *_ = IMAGE_HEADER.unpack_from(image)
        if hashlib.sha256(image[: hdr_size + img_size + prot_size]).digest() != info.hash:
            return BootVerdict(False, "hash mismatch")
        return BootVerdict(True, "ok", image)


class _RefuseAll:
    def check(self, image: bytes, *, image_index: int, slot: int) -> BootVerdict:
        if slot == 0:
            return HashOnlyCheck().check(image, image_index=image_index, slot=slot)
        return BootVerdict(False, "signature does not verify (soak: refusing bootloader)")


def synthetic_image(size: int, version: tuple[int, int, int, int], salt: bytes) -> bytes:
    """An MCUboot-shaped image (header, body, SHA-256 TLV) of *size* bytes."""
    body_size = max(size - 72, 1)
    header = IMAGE_HEADER.pack(IMAGE_MAGIC, 0, IMAGE_HEADER.size, 0, body_size, 0, *version)
    body = hashlib.shake_256(salt).digest(body_size)
    digest = hashlib.sha256(header + body).digest()
    return header + body + struct.pack("<HHHH", TLV_INFO_MAGIC, 40, 0x10, 32) + digest


@dataclass
class SoakRun:
    """The outcome of one seeded run.

    :param violations: broken invariants; empty for a good run (success or clean error).
    """

    seed: int
    size: int
    faults: dict[str, Any]
    ok: bool
    error: str | None
    elapsed_s: float
    violations: list[str] = field(default_factory=list)


def draw_faults(rng: random.Random, size: int) -> tuple[SimConfig, bool]:
    """Draw a faulty device configuration; the flag says whether the bootloader refuses."""
    drops = tuple(sorted(rng.randrange(1, size) for _ in range(rng.choice((0, 1, 2)))))
    resets = tuple(sorted(rng.randrange(1, size) for _ in range(rng.choice((0, 0, 1)))))
    config = SimConfig(
        buf_count=rng.choice((2, 4, 6)),
        loss_rate=rng.choice((0.0, 0.01, 0.03, 0.08)),
        latency_s=rng.choice((0.0, 0.002, 0.01)),
        disconnect_at=drops,
        reset_at=resets,
        seed=rng.randrange(1 << 30),
    )
    return config, rng.random() < 0.1


async def soak_once(seed: int, *, min_size: int = 4096, max_size: int = 65536) -> SoakRun:
    """One seeded DFU against a faulty virtual device; see the module docstring."""
    rng = random.Random(seed)
    size = rng.randrange(min_size, max_size + 1)
    old = load_image(synthetic_image(4096, (1, 0, 0, 0), b"old"), name="old")
    new = load_image(
        synthetic_image(size, (1, 0, 1, seed % 1000), seed.to_bytes(8, "little")), name="new"
    )
    config, refuse = draw_faults(rng, size)
    faults = {
        "loss_rate": config.loss_rate,
        "latency_s": config.latency_s,
        "buf_count": config.buf_count,
        "disconnect_at": list(config.disconnect_at),
        "reset_at": list(config.reset_at),
        "bootloader_refuses": refuse,
    }
    violations: list[str] = []
    device: VirtualDevice | None = None

    def watch(event: SimEvent) -> None:
        if event.kind == "pending" and device is not None:
            staged = device.secondary(int(event.detail.get("image", 0)))
            if staged is None or staged.hash != new.hash:
                violations.append(f"device marked a slot holding {staged!r}, not the file's image")

    options = FlowOptions(
        upload=UploadOptions(timeout_s=0.25, first_timeout_s=1.0, retries=6, resumes=4),
        swap_wait_s=0.3,
        reconnect_timeout_s=5.0,
    )
    start = time.monotonic()
    ok, error = False, None
    check = _RefuseAll() if refuse else HashOnlyCheck()
    async with VirtualDevice(config, boot_check=check, primary=[old.data], on_event=watch) as dev:
        device = dev
        host, port = await dev.serve_udp("127.0.0.1", 0)
        link = DeviceLink(udp_connector(host, port), timeout_s=0.25, frame_cap=frame_cap(1500))
        try:
            async with link:
                await run_dfu(link, [new], options)
            ok = True
        except McusealError as err:
            error = str(err)
        except Exception as err:  # the invariant: anything else is a bug
            violations.append(f"crash: {type(err).__name__}: {err}")
        running = dev.running(0)
    _check_outcome(violations, ok, refuse, running.hash if running else None, old, new)
    return SoakRun(seed, size, faults, ok, error, time.monotonic() - start, violations)


def _check_outcome(
    violations: list[str],
    ok: bool,
    refuse: bool,
    running: bytes | None,
    old: DfuImage,
    new: DfuImage,
) -> None:
    if running not in (old.hash, new.hash):
        violations.append("the device runs neither the old nor the new image")
    if ok and running != new.hash:
        violations.append("reported success but the new image does not run")
    if ok and refuse:
        violations.append("reported success although the bootloader refused the image")
