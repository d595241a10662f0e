"""The whole encrypted-update story on one machine, with no board and no radio.

:func:`run_demo` takes the nRF5340 build bundled with the package (NCS v2.7.0 sysbuild,
``peripheral_lbs`` on the application core and ``ipc_radio`` on the network core, a copy
of ``samples/b_ncs27_nrf5340_simultaneous``), and in a directory the caller provides:

1. generates DEMO KEYS (ECDSA-P256 signing, ECIES-P256 encryption) and configures the
   copied build with them, as a real build names its keys;
2. signs the network-core update as NCS's build would, then runs the preflight and
   :func:`mcuseal.build.seal.seal` (application encrypted, network core reused);
3. starts the virtual MCUboot device (:mod:`mcuseal.dfu.sim`) with the matching keys,
   running version 1.0.0 of both images, behind a virtual BLE link (bumble, in process);
4. runs the DFU flow (:func:`mcuseal.dfu.flow.run_dfu`): upload both images over BLE,
   mark, reset, reconnect, confirm, and reads what the device runs afterwards.

:func:`run_hazard` replays the reference failure instead: the same encrypted application
image, sent to a device whose MCUboot routes updates by the reset vector (one image at a
time, no simultaneous update), gets handed to the network core; the preflight message
that would have stopped it is part of the result.

Everything is written below the given directory; callers pass a temporary one.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcuseal.build import Finding, SealPlan, make_plan, read_build, run_preflight
from mcuseal.build.seal import SealOptions, SealResult, seal, sign_options
from mcuseal.dfu.events import Event, EventSink
from mcuseal.dfu.flow import DfuReport, FlowOptions, run_dfu
from mcuseal.dfu.link import DeviceLink
from mcuseal.dfu.mcumgr import SlotState
from mcuseal.dfu.package import DfuImage, load_image
from mcuseal.dfu.sim import (
    NRF5340_CPUNET_B0N_ADDRESS,
    McubootCheck,
    SimConfig,
    SimEvent,
    VirtualDevice,
)
from mcuseal.dfu.upload import UploadOptions
from mcuseal.errors import DfuRejected
from mcuseal.image import ImageVersion, sign_image

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

#: what the virtual device runs before the update (both images)
VERSION_BEFORE = "1.0.0"
DEVICE_NAME = "mcuseal-demo"
KEYS_DIR = "demo-keys"
SIGN_KEY = "sign-ec-p256.pem"
ENC_KEY = "enc-ec256-priv.pem"
NETCORE_UPDATE = "signed_by_mcuboot_and_b0_ipc_radio.bin"
NETCORE_INPUT = "signed_by_b0_ipc_radio.bin"
#: how many times the hazard replay re-encrypts when the ciphertext word happens to
#: fall below b0n's address (about 0.4 % of AES keys)
HAZARD_ATTEMPTS = 8

_FLOW = FlowOptions(
    upload=UploadOptions(timeout_s=2.0, first_timeout_s=5.0),
    swap_wait_s=0.5,
    reconnect_timeout_s=15.0,
)

# The single-operation layout of samples/c_ncs27_nrf5340_single_operation: MCUboot
# updates one image at a time and routes each update by its reset vector.
_HAZARD_CONFIG = {
    "zephyr/.config": (
        (
            "SB_CONFIG_MCUBOOT_NRF53_MULTI_IMAGE_UPDATE=y",
            "# SB_CONFIG_MCUBOOT_NRF53_MULTI_IMAGE_UPDATE is not set",
        ),
        (
            "SB_CONFIG_MCUBOOT_MODE_OVERWRITE_ONLY=y",
            "# SB_CONFIG_MCUBOOT_MODE_OVERWRITE_ONLY is not set",
        ),
        (
            "# SB_CONFIG_MCUBOOT_MODE_SWAP_WITHOUT_SCRATCH is not set",
            "SB_CONFIG_MCUBOOT_MODE_SWAP_WITHOUT_SCRATCH=y",
        ),
    ),
    "mcuboot/zephyr/.config": (
        ("CONFIG_NRF53_MULTI_IMAGE_UPDATE=y", "# CONFIG_NRF53_MULTI_IMAGE_UPDATE is not set"),
        ("CONFIG_UPDATEABLE_IMAGE_NUMBER=2", "CONFIG_UPDATEABLE_IMAGE_NUMBER=1"),
        ("CONFIG_BOOT_UPGRADE_ONLY=y", "# CONFIG_BOOT_UPGRADE_ONLY is not set"),
        ("# CONFIG_BOOT_SWAP_USING_MOVE is not set", "CONFIG_BOOT_SWAP_USING_MOVE=y"),
    ),
    "peripheral_lbs/zephyr/.config": (
        (
            "CONFIG_MCUBOOT_BOOTLOADER_MODE_OVERWRITE_ONLY=y",
            "# CONFIG_MCUBOOT_BOOTLOADER_MODE_OVERWRITE_ONLY is not set",
        ),
        (
            "# CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_WITHOUT_SCRATCH is not set",
            "CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_WITHOUT_SCRATCH=y",
        ),
    ),
}


@dataclass(frozen=True)
class ImageRow:
    """One line of the closing table."""

    image: int
    name: str
    version_before: str
    version_after: str
    encrypted: bool
    hash: str
    size: int
    rate_bps: float
    verdict: str
    state: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"rate_bps": round(self.rate_bps)}


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` did.

    :param rows: one per image, application core first.
    :param ok: the device runs both new images, confirmed.
    """

    rows: tuple[ImageRow, ...]
    findings: tuple[Finding, ...]
    elapsed_s: float
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "elapsed_s": round(self.elapsed_s, 2),
            "images": [row.to_json() for row in self.rows],
            "preflight": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class HazardResult:
    """What :func:`run_hazard` showed.

    :param reset_vector: the ciphertext word at ``ih_hdr_size + 4`` of the image.
    :param misrouted: the device handed the application image to the network core.
    :param running_after: the version the application core runs after the reset.
    :param dfu_error: what the DFU client reported.
    :param prevented_by: the preflight refusal that would have stopped the release.
    :param attempts: encryptions needed until the word pointed above b0n (usually 1).
    """

    reset_vector: int
    b0n_addr: int
    misrouted: bool
    running_after: str | None
    dfu_error: str
    prevented_by: Finding | None
    attempts: int

    @property
    def as_intended(self) -> bool:
        return self.misrouted and self.prevented_by is not None and bool(self.dfu_error)

    def to_json(self) -> dict[str, Any]:
        return {
            "reset_vector": f"0x{self.reset_vector:08x}",
            "b0n_addr": f"0x{self.b0n_addr:08x}",
            "misrouted": self.misrouted,
            "running_after": self.running_after,
            "dfu_error": self.dfu_error,
            "prevented_by": self.prevented_by.to_json() if self.prevented_by else None,
            "attempts": self.attempts,
            "as_intended": self.as_intended,
        }


@dataclass
class _Prepared:
    workdir: Path
    build_dir: Path
    sign_key: Path
    enc_key: Path
    plan: SealPlan
    primary: list[bytes]
    findings: tuple[Finding, ...] = ()
    sealed: SealResult | None = None
    images: list[DfuImage] = field(default_factory=list)


def _copy_tree(source: Traversable, dest: Path) -> None:
    # Traversable, not Path: the package may be installed as a zip.
    dest.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.is_dir():
            _copy_tree(entry, dest / entry.name)
        else:
            (dest / entry.name).write_bytes(entry.read_bytes())


def bundled_build() -> Traversable:
    """The nRF5340 sysbuild build directory shipped with the package."""
    return resources.files("mcuseal") / "data" / "demo" / "build"


def _write_key(path: Path) -> None:
    from mcuseal.keys import KeyType
    from mcuseal.keys.formats import generate, private_key_file_bytes

    data = private_key_file_bytes(generate(KeyType.ECDSA_P256))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _version(text: str) -> ImageVersion:
    return ImageVersion.parse(text)


def _prepare(workdir: Path, emit: EventSink, *, hazard: bool = False) -> _Prepared:
    """Copy the build, make DEMO KEYS, sign the network core as NCS would, plan."""
    from mcuseal.keys import load_signer

    build_dir = workdir / "build"
    _copy_tree(bundled_build(), build_dir)
    if hazard:
        for name, edits in _HAZARD_CONFIG.items():
            path = build_dir / name
            text = path.read_text()
            for old, new in edits:
                text = text.replace(old, new)
            path.write_text(text)
    keys = workdir / KEYS_DIR
    keys.mkdir()
    sign_key, enc_key = keys / SIGN_KEY, keys / ENC_KEY
    _write_key(sign_key)
    _write_key(enc_key)
    emit(
        Event(
            "demo-keys",
            {
                "label": "DEMO KEYS: generated for this run, deleted with it; never ship them",
                "signing": str(sign_key),
                "encryption": str(enc_key),
            },
        )
    )

    # The build's MCUboot and application name demo-keys/... relative to the west top
    # directory; the work directory plays that role.
    plan = make_plan(read_build(build_dir), topdir=workdir)
    signer = load_signer(sign_key)
    app_payload = plan.app.input_path.read_bytes()
    app_old = dataclasses.replace(sign_options(plan, plan.app), version=_version(VERSION_BEFORE))
    primary = [sign_image(app_payload, app_old, signer=signer).to_bytes()]
    net = plan.netcore
    if net is not None:
        # NCS signs the network-core update with MCUboot's key in its own build step
        # (b0_mcuboot_signing.cmake); the bundled build stops before it.
        net_payload = (build_dir / NETCORE_INPUT).read_bytes()
        net_opts = sign_options(plan, dataclasses.replace(net, extra_args=()))
        update = sign_image(net_payload, net_opts, signer=signer).to_bytes()
        (build_dir / NETCORE_UPDATE).write_bytes(update)
        net_old = dataclasses.replace(net_opts, version=_version(VERSION_BEFORE))
        primary.append(sign_image(net_payload, net_old, signer=signer).to_bytes())
        plan = make_plan(read_build(build_dir), topdir=workdir)
    return _Prepared(workdir, build_dir, sign_key, enc_key, plan, primary)


def _preflight(prepared: _Prepared, emit: EventSink) -> tuple[Finding, ...]:
    report = run_preflight(prepared.plan)
    prepared.findings = report.findings
    emit(Event("preflight", {"ok": report.ok, "findings": report.to_json()}))
    return report.findings


def _seal(prepared: _Prepared, emit: EventSink, *, force: bool = False) -> None:
    result = seal(prepared.plan, SealOptions(force=force))
    prepared.sealed = result
    emit(
        Event(
            "seal",
            {
                "outputs": [o.to_json() for o in result.outputs],
                "kept": [{"path": str(p), "why": why} for p, why in result.kept],
            },
        )
    )
    app = prepared.plan.app
    images = [
        load_image(
            app.outputs["encrypted_bin"].read_bytes(),
            name=f"{app.name} (application core)",
            image=app.image_number,
        )
    ]
    net = prepared.plan.netcore
    if net is not None and net.reuse_path is not None:
        images.append(
            load_image(
                net.reuse_path.read_bytes(),
                name=f"{net.name} (network core)",
                image=net.image_number,
            )
        )
    prepared.images = images


@asynccontextmanager
async def _ble_link(device: VirtualDevice) -> AsyncIterator[DeviceLink]:
    """A central's bumble host and the device's BLE side on one in-process virtual link."""
    from mcuseal.dfu.transport.hci import HOST_ADDRESS, BumbleHost, hci_connector

    peripheral = await device.serve_ble(name=DEVICE_NAME)
    central = await peripheral.central(name="mcuseal", address=HOST_ADDRESS)
    host = BumbleHost.attached(central)

    # By address: on the in-process link the device's address is known, and finding
    # it by name costs a scan (and a GAP name read) per connection.
    connect = hci_connector(host, address=str(peripheral.address), timeout_s=10.0)
    try:
        async with DeviceLink(connect, timeout_s=_FLOW.upload.timeout_s) as link:
            yield link
    finally:
        await central.power_off()


def _device(prepared: _Prepared, config: SimConfig, emit: EventSink) -> VirtualDevice:
    check = McubootCheck.from_files([prepared.sign_key], prepared.enc_key)

    def on_sim_event(event: SimEvent) -> None:
        if event.kind in ("verdict", "overwrite", "swap", "erase", "boot", "netcore-route"):
            detail = {k: v for k, v in event.to_json().items() if k != "event"}
            emit(Event("device", {"device_event": event.kind} | detail))

    return VirtualDevice(
        config, boot_check=check, primary=prepared.primary[: config.images], on_event=on_sim_event
    )


def _row(
    img: DfuImage,
    report: DfuReport,
    device: VirtualDevice,
    before: dict[int, str],
) -> ImageRow:
    final: SlotState | None = next(
        (s for s in report.final_state if s.image == img.image and s.slot == 0), None
    )
    verdicts = [
        e.detail
        for e in device.events
        if e.kind == "verdict" and e.detail.get("image") == img.image
    ]
    verdict = "not checked"
    if verdicts:
        last = verdicts[-1]
        verdict = f"{'accepted' if last.get('accepted') else 'REJECTED'}: {last.get('reason')}"
    uploaded = report.uploaded.get(img.image)
    state = "-"
    if final is not None:
        state = "confirmed" if final.confirmed and final.hash == img.hash else "not confirmed"
    return ImageRow(
        image=img.image,
        name=img.name,
        version_before=before.get(img.image, "-"),
        version_after=final.version if final is not None else "-",
        encrypted=img.encrypted,
        hash=img.hash.hex(),
        size=len(img.data),
        rate_bps=uploaded.rate_bps if uploaded is not None else 0.0,
        verdict=verdict,
        state=state,
    )


async def run_demo(workdir: Path, *, on_event: EventSink) -> DemoResult:
    """Seal the bundled nRF5340 build with DEMO KEYS and update a virtual device over BLE.

    :param workdir: an empty directory the demo may fill (a temporary one).
    :param on_event: receives the demo's events and the DFU's (progress included).
    :raises McusealError: a step failed; the message names it.
    """
    started = time.monotonic()
    prepared = _prepare(workdir, on_event)
    findings = _preflight(prepared, on_event)
    _seal(prepared, on_event)
    config = SimConfig(images=len(prepared.primary), slot_size=prepared.plan.app.slot_size)
    device = _device(prepared, config, on_event)
    async with device:
        before = {i: info.version_str for i in range(config.images) if (info := device.running(i))}
        on_event(Event("device-start", {"name": DEVICE_NAME, "running": before, "link": "ble"}))
        async with _ble_link(device) as link:
            report = await run_dfu(link, prepared.images, _FLOW, on_event=on_event)
        rows = tuple(_row(img, report, device, before) for img in prepared.images)
    ok = all(row.state == "confirmed" for row in rows)
    result = DemoResult(rows, findings, time.monotonic() - started, ok)
    on_event(Event("result", result.to_json()))
    return result


def _reset_vector(image: bytes) -> int:
    header_size = struct.unpack_from("<H", image, 8)[0]
    return int(struct.unpack_from("<I", image, header_size + 4)[0])


async def run_hazard(workdir: Path, *, on_event: EventSink) -> HazardResult:
    """Replay the reference failure: an encrypted app image misrouted to the network core.

    The bundled build is switched to one-image-at-a-time update (no simultaneous
    multi-image update): the preflight refuses it; the image is sealed anyway (as a user
    signing by hand with ``imgtool -E`` would), and a virtual device whose MCUboot runs
    NCS's reset-vector check receives it over BLE.
    """
    prepared = _prepare(workdir, on_event, hazard=True)
    findings = _preflight(prepared, on_event)
    prevented_by = next((f for f in findings if f.code == "nrf5340-reset-vector"), None)
    attempts = 0
    vector = 0
    while attempts < HAZARD_ATTEMPTS:
        attempts += 1
        _seal(prepared, on_event, force=True)
        vector = _reset_vector(prepared.images[0].data)
        if vector > NRF5340_CPUNET_B0N_ADDRESS:
            break
        on_event(
            Event(
                "hazard-retry",
                {
                    "reset_vector": f"0x{vector:08x}",
                    "why": "this AES key left the word below b0n's address (about 0.4 % of "
                    "keys): the bootloader would route correctly; sealing again",
                },
            )
        )
    config = SimConfig(
        images=1,
        slot_size=prepared.plan.app.slot_size,
        netcore_b0n_addr=NRF5340_CPUNET_B0N_ADDRESS,
    )
    device = _device(prepared, config, on_event)
    dfu_error = ""
    async with device:
        on_event(
            Event(
                "device-start",
                {
                    "name": DEVICE_NAME,
                    "running": {0: VERSION_BEFORE},
                    "link": "ble",
                    "reset_vector_check": f"0x{NRF5340_CPUNET_B0N_ADDRESS:08x}",
                },
            )
        )
        try:
            async with _ble_link(device) as link:
                await run_dfu(link, prepared.images[:1], _FLOW, on_event=on_event)
        except DfuRejected as err:
            dfu_error = str(err)
        running = device.running(0)
        misrouted = any(e.kind == "netcore-route" for e in device.events)
    result = HazardResult(
        reset_vector=vector,
        b0n_addr=NRF5340_CPUNET_B0N_ADDRESS,
        misrouted=misrouted,
        running_after=running.version_str if running is not None else None,
        dfu_error=dfu_error,
        prevented_by=prevented_by,
        attempts=attempts,
    )
    on_event(Event("result", result.to_json()))
    return result
