"""The signing plan: what to sign, with which geometry, for which MCUboot.

:func:`make_plan` turns a :class:`~mcuseal.build.reader.BuildInfo` into a
:class:`SealPlan` that repeats, number for number, what the SDK flavour's own build
computes:

* NCS with Partition Manager (sysbuild ``image_signing.cmake``; v1.x
  ``modules/mcuboot/CMakeLists.txt``): ``--slot-size PM_MCUBOOT_PRIMARY_SIZE --pad-header
  --header-size PM_MCUBOOT_PAD_SIZE``; align from the flash ``write-block-size`` (sysbuild)
  or ``CONFIG_MCUBOOT_FLASH_WRITE_BLOCK_SIZE`` (v1.x), 4 when absent.
* NCS without Partition Manager: the *primary* slot's size, ``CONFIG_ROM_START_OFFSET``.
* Zephyr ``cmake/mcuboot.cmake``: the *secondary* slot's size (primary for single-app /
  firmware-updater), ``CONFIG_ROM_START_OFFSET``, ``--align 1 --overwrite-only`` in
  overwrite-only mode, ``--align 1 --load-addr`` in RAM-load mode.
"""

from __future__ import annotations

import enum
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcuseal.build.kconfig import DotConfig
from mcuseal.build.reader import BuildInfo, Flavour, ImageBuild
from mcuseal.errors import BuildError

DEFAULT_WRITE_BLOCK_SIZE = 4  # cmake/mcuboot.cmake and image_signing.cmake: "assuming ... 4"
DEFAULT_VERSION = "0.0.0+0"
DEFAULT_NCS_PAD = 0x200  # SB_CONFIG_PM_MCUBOOT_PAD default


class UpgradeMode(str, enum.Enum):
    """MCUboot's upgrade strategy (``CONFIG_BOOT_*`` in MCUboot's ``.config``)."""

    SWAP_SCRATCH = "swap-scratch"
    SWAP_MOVE = "swap-move"
    SWAP_OFFSET = "swap-offset"
    OVERWRITE_ONLY = "overwrite-only"
    DIRECT_XIP = "direct-xip"
    DIRECT_XIP_REVERT = "direct-xip-revert"
    RAM_LOAD = "ram-load"
    FIRMWARE_LOADER = "firmware-loader"
    SINGLE_APP = "single-app"
    UNKNOWN = "unknown"


# MCUboot's own options; without MCUboot's .config, what the application was told.
_MODE_OPTIONS: tuple[tuple[str, UpgradeMode], ...] = (
    ("CONFIG_BOOT_DIRECT_XIP_REVERT", UpgradeMode.DIRECT_XIP_REVERT),
    ("CONFIG_BOOT_DIRECT_XIP", UpgradeMode.DIRECT_XIP),
    ("CONFIG_BOOT_RAM_LOAD", UpgradeMode.RAM_LOAD),
    ("CONFIG_BOOT_FIRMWARE_LOADER", UpgradeMode.FIRMWARE_LOADER),
    ("CONFIG_SINGLE_APPLICATION_SLOT", UpgradeMode.SINGLE_APP),
    ("CONFIG_BOOT_UPGRADE_ONLY", UpgradeMode.OVERWRITE_ONLY),
    ("CONFIG_BOOT_SWAP_USING_OFFSET", UpgradeMode.SWAP_OFFSET),
    ("CONFIG_BOOT_SWAP_USING_MOVE", UpgradeMode.SWAP_MOVE),
    ("CONFIG_BOOT_SWAP_USING_SCRATCH", UpgradeMode.SWAP_SCRATCH),
)
_APP_MODE_OPTIONS: tuple[tuple[str, UpgradeMode], ...] = (
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_DIRECT_XIP_WITH_REVERT", UpgradeMode.DIRECT_XIP_REVERT),
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_DIRECT_XIP", UpgradeMode.DIRECT_XIP),
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_RAM_LOAD", UpgradeMode.RAM_LOAD),
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_FIRMWARE_UPDATER", UpgradeMode.FIRMWARE_LOADER),
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_SINGLE_APP", UpgradeMode.SINGLE_APP),
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_OVERWRITE_ONLY", UpgradeMode.OVERWRITE_ONLY),
    ("CONFIG_MCUBOOT_IMGTOOL_OVERWRITE_ONLY", UpgradeMode.OVERWRITE_ONLY),
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_USING_OFFSET", UpgradeMode.SWAP_OFFSET),
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_USING_MOVE", UpgradeMode.SWAP_MOVE),
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_WITHOUT_SCRATCH", UpgradeMode.SWAP_MOVE),
    ("CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_SCRATCH", UpgradeMode.SWAP_SCRATCH),
)


_SIGNATURE_OPTIONS: tuple[tuple[str, str], ...] = (
    ("CONFIG_BOOT_SIGNATURE_TYPE_NONE", "none"),
    ("CONFIG_BOOT_SIGNATURE_TYPE_RSA", "rsa"),
    ("CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256", "ecdsa-p256"),
    ("CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P384", "ecdsa-p384"),
    ("CONFIG_BOOT_SIGNATURE_TYPE_ED25519", "ed25519"),
)
_ENCRYPT_OPTIONS: tuple[tuple[str, str], ...] = (
    ("CONFIG_BOOT_ENCRYPT_RSA", "rsa-oaep"),
    ("CONFIG_BOOT_ENCRYPT_EC256", "ecies-p256"),
    ("CONFIG_BOOT_ENCRYPT_X25519", "ecies-x25519"),
    ("CONFIG_BOOT_ENCRYPT_KW", "aes-kw"),
)


def _last_set(config: DotConfig, options: tuple[tuple[str, str], ...]) -> str | None:
    """The value of the last option in *options* that *config* sets."""
    return next((kind for name, kind in reversed(options) if config.is_set(name)), None)


@dataclass(frozen=True)
class McubootConfig:
    """What MCUboot was built with, read from its ``.config`` (or unknown without it)."""

    present: bool
    source: str = ""
    encrypt: bool = False
    scheme: str | None = None  # "rsa-oaep" | "ecies-p256" | "ecies-x25519" | "aes-kw"
    signature_type: str | None = None  # "rsa" | "ecdsa-p256" | "ecdsa-p384" | "ed25519" | "none"
    aes_bits: int = 128
    encryption_key_file: str | None = None
    has_encryption_key_option: bool = False
    signature_key_file: str | None = None
    mode: UpgradeMode = UpgradeMode.UNKNOWN
    updateable_images: int = 1
    nrf53_multi_image: bool = False
    check_header_load_address: bool = False
    uuid_cid: bool = False
    save_enctlv: bool = False
    pcd_app: bool = False
    soc_nrf5340_cpuapp: bool = False

    @classmethod
    def from_config(cls, config: DotConfig | None, app: DotConfig) -> McubootConfig:
        """Read MCUboot's ``.config``; without one, only the upgrade mode the app knows."""
        if config is None:
            mode = next(
                (m for name, m in _APP_MODE_OPTIONS if app.is_set(name)), UpgradeMode.UNKNOWN
            )
            return cls(present=False, mode=mode)
        signature_type = _last_set(config, _SIGNATURE_OPTIONS)
        scheme = _last_set(config, _ENCRYPT_OPTIONS)
        encrypt = config.is_set("CONFIG_BOOT_ENCRYPT_IMAGE") or scheme is not None
        if encrypt and scheme is None:
            # MCUboot >= 2.0 selects the scheme from the signature type.
            scheme = {"rsa": "rsa-oaep", "ecdsa-p256": "ecies-p256", "ed25519": "ecies-x25519"}.get(
                signature_type or ""
            )
        mode = next(
            (m for name, m in _MODE_OPTIONS if config.is_set(name)), UpgradeMode.SWAP_SCRATCH
        )
        return cls(
            present=True,
            source=config.source,
            encrypt=encrypt,
            scheme=scheme,
            signature_type=signature_type,
            aes_bits=256 if config.is_set("CONFIG_BOOT_ENCRYPT_ALG_AES_256") else 128,
            encryption_key_file=config.string("CONFIG_BOOT_ENCRYPTION_KEY_FILE") or None,
            has_encryption_key_option="CONFIG_BOOT_ENCRYPTION_KEY_FILE" in config,
            signature_key_file=config.string("CONFIG_BOOT_SIGNATURE_KEY_FILE") or None,
            mode=mode,
            updateable_images=config.integer("CONFIG_UPDATEABLE_IMAGE_NUMBER", 1) or 1,
            nrf53_multi_image=config.is_set("CONFIG_NRF53_MULTI_IMAGE_UPDATE"),
            check_header_load_address=config.is_set("CONFIG_MCUBOOT_CHECK_HEADER_LOAD_ADDRESS"),
            uuid_cid=config.is_set("CONFIG_MCUBOOT_UUID_CID"),
            save_enctlv=config.is_set("CONFIG_BOOT_SWAP_SAVE_ENCTLV"),
            pcd_app=config.is_set("CONFIG_PCD_APP"),
            soc_nrf5340_cpuapp=config.is_set("CONFIG_SOC_NRF5340_CPUAPP"),
        )


@dataclass(frozen=True)
class KeyRef:
    """A key file named by the build (or the command line) and where it came from."""

    path: Path
    source: str  # e.g. "SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE", "--encrypt"
    raw: str = ""  # the value as written in the configuration

    def to_json(self) -> dict[str, str]:
        return {"path": str(self.path), "source": self.source}


@dataclass(frozen=True)
class ImagePlan:
    """One image: its exact ``imgtool sign`` geometry and the files involved.

    ``encrypt`` is False for an image reused unchanged (the nRF5340 network core, whose
    SDK-signed file is ``reuse_path``).
    """

    name: str
    role: str  # "app" | "netcore"
    image_number: int
    input_path: Path
    slot_size: int
    header_size: int
    pad_header: bool
    align: int
    version: str
    slot_addr: int | None
    load_address: int | None  # the zip manifest's load_address (PM_APP_ADDRESS)
    encrypt: bool
    rom_fixed: int | None = None
    ram_load_addr: int | None = None
    overwrite_only: bool = False
    sha: int | None = None
    pure: bool = False
    security_counter: int | None = None
    hmac_sha: int | None = None
    encrypt_keylen: int = 128
    extra_args: tuple[str, ...] = ()
    vid: str | None = None  # --vid / --cid (CONFIG_MCUBOOT_IMGTOOL_UUID_VID/CID_NAME)
    cid: str | None = None
    reuse_path: Path | None = None
    sdk_signed_bin: Path | None = None
    sdk_signed_hex: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def imgtool_args(self) -> list[str]:
        """The geometry as ``imgtool sign`` options (for humans and for cross-checking)."""
        args = ["--version", self.version, "--align", str(self.align)]
        args += ["--header-size", str(self.header_size), "--slot-size", str(self.slot_size)]
        if self.pad_header:
            args.append("--pad-header")
        if self.overwrite_only:
            args.append("--overwrite-only")
        if self.rom_fixed is not None:
            args += ["--rom-fixed", hex(self.rom_fixed)]
        if self.ram_load_addr is not None:
            args += ["--load-addr", hex(self.ram_load_addr)]
        if self.security_counter is not None:
            args += ["--security-counter", str(self.security_counter)]
        if self.sha is not None:
            args += ["--sha", str(self.sha)]
        if self.pure:
            args.append("--pure")
        if self.encrypt and self.encrypt_keylen == 256:
            args += ["--encrypt-keylen", "256"]
        if self.encrypt and self.hmac_sha is not None:
            args += ["--hmac-sha", str(self.hmac_sha)]
        if self.vid is not None:
            args += ["--vid", self.vid]
        if self.cid is not None:
            args += ["--cid", self.cid]
        return args + list(self.extra_args)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "image_number": self.image_number,
            "input": str(self.input_path),
            "slot_size": self.slot_size,
            "header_size": self.header_size,
            "pad_header": self.pad_header,
            "align": self.align,
            "version": self.version,
            "slot_addr": self.slot_addr,
            "load_address": self.load_address,
            "encrypt": self.encrypt,
            "rom_fixed": self.rom_fixed,
            "reuse": str(self.reuse_path) if self.reuse_path else None,
            "imgtool_args": self.imgtool_args(),
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class SealPlan:
    """Everything ``mcuseal seal`` will do, derived from the build directory alone."""

    build: BuildInfo
    images: tuple[ImagePlan, ...]
    mcuboot: McubootConfig
    encryption_key: KeyRef | None
    signature_key: KeyRef | None
    encryption_key_candidates: tuple[KeyRef, ...] = ()
    signature_key_candidates: tuple[KeyRef, ...] = ()
    extra_args_encrypt_key: KeyRef | None = None  # "-E KEY" in CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS
    nrf5340: bool = False
    netcore_update: bool = False
    nsib_upgradable_mcuboot: bool = False
    b0n_present: bool = False  # PM_CPUNET_B0N_ADDRESS: the macro MCUboot's routing tests
    secondary_external: bool | None = None
    dfu_zip: Path | None = None
    merged_hex: Path | None = None
    topdir: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def flavour(self) -> Flavour:
        return self.build.flavour

    @property
    def app(self) -> ImagePlan:
        return next(i for i in self.images if i.role == "app")

    @property
    def netcore(self) -> ImagePlan | None:
        return next((i for i in self.images if i.role == "netcore"), None)

    def to_json(self) -> dict[str, Any]:
        mb = self.mcuboot
        return {
            "build_dir": str(self.build.build_dir),
            "flavour": self.flavour.value,
            "sdk_version": str(self.build.version),
            "nrf5340": self.nrf5340,
            "netcore_update": self.netcore_update,
            "mcuboot": {
                "present": mb.present,
                "encrypt": mb.encrypt,
                "scheme": mb.scheme,
                "signature_type": mb.signature_type,
                "aes_bits": mb.aes_bits,
                "encryption_key_file": mb.encryption_key_file,
                "mode": mb.mode.value,
                "updateable_images": mb.updateable_images,
                "simultaneous_multi_image": mb.nrf53_multi_image,
                "check_header_load_address": mb.check_header_load_address,
                "save_enctlv": mb.save_enctlv,
            },
            "encryption_key": self.encryption_key.to_json() if self.encryption_key else None,
            "signature_key": self.signature_key.to_json() if self.signature_key else None,
            "images": [i.to_json() for i in self.images],
            "dfu_zip": str(self.dfu_zip) if self.dfu_zip else None,
            "merged_hex": str(self.merged_hex) if self.merged_hex else None,
            "notes": list(self.notes),
        }


def find_topdir(start: Path) -> Path | None:
    """The west workspace containing *start* (the directory holding ``.west/``), if any."""
    for directory in (start.resolve(), *start.resolve().parents):
        if (directory / ".west").is_dir():
            return directory
    return None


def make_plan(
    build: BuildInfo,
    *,
    topdir: Path | None = None,
    encryption_key: Path | None = None,
    signature_key: Path | None = None,
    encrypt_netcore: bool = False,
) -> SealPlan:
    """Derive the :class:`SealPlan` for *build*.

    :param topdir: west workspace top directory (relative key paths in sysbuild and
        Zephyr builds are relative to it); found from the build directory when omitted.
    :param encryption_key: an explicit ``--encrypt KEY``; wins over the configuration.
    :param signature_key: an explicit ``-k KEY``; wins over the configuration.
    :param encrypt_netcore: experimental: encrypt the nRF5340 network-core image too.
    """
    notes = list(build.notes)
    topdir = topdir or find_topdir(build.build_dir)
    mcuboot = McubootConfig.from_config(
        build.mcuboot.config if build.mcuboot else None, build.app.config
    )
    app_cfg = build.app.config
    pm = build.pm

    netcore_update = _netcore_update(build, mcuboot)
    nrf5340 = (
        mcuboot.soc_nrf5340_cpuapp
        or app_cfg.is_set("CONFIG_SOC_NRF5340_CPUAPP")
        or any(
            k.startswith("CONFIG_SOC_NRF5340_CPUAPP") and v is True
            for k, v in app_cfg.values.items()
        )
    )

    app_plan = _app_plan(build, mcuboot, notes)
    images = [app_plan]
    if netcore_update and build.netcore is not None:
        images.append(_netcore_plan(build, encrypt_netcore, notes))
    elif netcore_update:
        notes.append("network-core update is enabled but no network-core image directory was found")

    enc_candidates = _encryption_key_candidates(build, topdir, notes)
    sig_candidates = _signature_key_candidates(build, topdir, notes)
    extra_enc = next((k for k in enc_candidates if k.source.endswith("(-E)")), None)
    chosen_enc = KeyRef(encryption_key, "--encrypt") if encryption_key else None
    chosen_sig = KeyRef(signature_key, "-k") if signature_key else None

    secondary_external = _secondary_external(build)
    # NSIB (b0) on the app core with an upgradable MCUboot in s0/s1.
    nsib = pm is not None and "PM_S1_ADDRESS" in pm
    dfu_zip = _first_existing(
        build.build_dir / "dfu_application.zip", build.build_dir / "zephyr" / "dfu_application.zip"
    )
    merged = _first_existing(
        build.build_dir / "merged.hex", build.build_dir / "zephyr" / "merged.hex"
    )
    return SealPlan(
        build=build,
        images=tuple(images),
        mcuboot=mcuboot,
        encryption_key=chosen_enc or (enc_candidates[0] if enc_candidates else None),
        signature_key=chosen_sig or (sig_candidates[0] if sig_candidates else None),
        encryption_key_candidates=tuple(enc_candidates),
        signature_key_candidates=tuple(sig_candidates),
        extra_args_encrypt_key=extra_enc,
        nrf5340=nrf5340,
        netcore_update=netcore_update,
        nsib_upgradable_mcuboot=nsib,
        b0n_present=_b0n_present(build),
        secondary_external=secondary_external,
        dfu_zip=dfu_zip,
        merged_hex=merged,
        topdir=topdir,
        notes=tuple(notes),
    )


def _b0n_present(build: BuildInfo) -> bool:
    """Is there a network-core b0n (MCUboot's ``PM_CPUNET_B0N_ADDRESS``)?

    pm_config.h carries it with the domain prefix; the files a build keeps are per domain:
    ``PM_B0N_ADDRESS`` in pm_CPUNET.config.
    """
    if build.pm_cpunet is not None and "PM_B0N_ADDRESS" in build.pm_cpunet:
        return True
    return build.pm is not None and "PM_CPUNET_B0N_ADDRESS" in build.pm


def _first_existing(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _netcore_update(build: BuildInfo, mcuboot: McubootConfig) -> bool:
    sb = build.sysbuild_config
    if sb is not None and sb.is_set("SB_CONFIG_NETCORE_APP_UPDATE"):
        return True
    if build.app.config.is_set("CONFIG_NRF53_UPGRADE_NETWORK_CORE"):
        return True
    if build.mcuboot is not None:
        number = build.mcuboot.config.integer("CONFIG_MCUBOOT_NETWORK_CORE_IMAGE_NUMBER")
        if number is not None and number >= 0:
            return True
    return mcuboot.pcd_app


def _version_of(cfg: DotConfig, *names: str) -> tuple[str, str | None]:
    for name in names:
        value = cfg.string(name)
        if value:
            return value, name
    return DEFAULT_VERSION, None


def _extra_args(cfg: DotConfig) -> tuple[str, ...]:
    text = cfg.string("CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS") or ""
    try:
        return tuple(shlex.split(text))
    except ValueError:
        raise BuildError(
            f"{cfg.source}: CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS={text!r} is not a valid argument "
            "list (unbalanced quotes)"
        ) from None


def _split_encrypt_arg(args: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """Remove ``-E KEY``/``--encrypt KEY`` from extra imgtool args; return (rest, KEY)."""
    rest: list[str] = []
    key = None
    it = iter(args)
    for arg in it:
        if arg in ("-E", "--encrypt"):
            key = next(it, None)
        elif arg.startswith("--encrypt="):
            key = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return tuple(rest), key


def _v1_align(cfg: DotConfig) -> int:
    """NCS v1.x sign_cmd: ``--align ${CONFIG_MCUBOOT_FLASH_WRITE_BLOCK_SIZE}``."""
    return cfg.integer("CONFIG_MCUBOOT_FLASH_WRITE_BLOCK_SIZE") or DEFAULT_WRITE_BLOCK_SIZE


def _write_block_size(image: ImageBuild, notes: list[str]) -> int:
    if image.dts is not None:
        flash = image.dts.chosen("zephyr,flash")
        if flash is not None:
            wbs = flash.int_prop("write-block-size")
            if wbs:
                return wbs
    where = "zephyr.dts has no write-block-size" if image.dts else "no zephyr/zephyr.dts"
    notes.append(f"{image.name}: {where}; align uses the SDK default {DEFAULT_WRITE_BLOCK_SIZE}")
    return DEFAULT_WRITE_BLOCK_SIZE


def _app_plan(build: BuildInfo, mcuboot: McubootConfig, notes: list[str]) -> ImagePlan:
    app = build.app
    cfg = app.config
    sb = build.sysbuild_config or DotConfig()
    pm = build.pm
    flavour = build.flavour
    extra, _ = _split_encrypt_arg(_extra_args(cfg))
    image_number = (
        sb.integer("SB_CONFIG_MCUBOOT_APPLICATION_IMAGE_NUMBER")
        or cfg.integer("CONFIG_MCUBOOT_APPLICATION_IMAGE_NUMBER", 0)
        or 0
    )
    local: list[str] = []
    rom_fixed = ram_load = None
    overwrite_only = False
    zdir = app.zephyr_dir
    kernel = app.kernel_name

    if flavour is Flavour.NCS_CHILD_IMAGE:
        assert pm is not None
        version, _ = _version_of(cfg, "CONFIG_MCUBOOT_IMAGE_VERSION")
        align = _v1_align(cfg)
        slot_size = pm.require_int("PM_MCUBOOT_PRIMARY_SIZE")
        header_size = pm.require_int("PM_MCUBOOT_PAD_SIZE")
        pad_header = True
        slot_addr = pm.integer("PM_MCUBOOT_PRIMARY_ADDRESS")
        load_address = pm.integer("PM_APP_ADDRESS")
        input_path = zdir / "app_to_sign.bin"
        if not input_path.is_file():
            raise BuildError(
                f"{input_path} is missing: NCS v1.x signs app_to_sign.bin (the application "
                "merged with SPM/TF-M), not zephyr.bin; rebuild the project"
            )
        outputs = {
            "encrypted_bin": zdir / "app_update.encrypted.bin",
            "factory_hex": zdir / "app_signed.factory.hex",
        }
        sdk_bin, sdk_hex = zdir / "app_update.bin", zdir / "app_signed.hex"
        if cfg.string("CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS"):
            local.append(
                "NCS v1.x ignores CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS (nrf/modules/mcuboot never "
                "forwards it); mcuseal honours it"
            )
    else:
        version, _ = _version_of(cfg, "CONFIG_MCUBOOT_IMGTOOL_SIGN_VERSION")
        align = _write_block_size(app, local)
        if flavour is Flavour.NCS_SYSBUILD and pm is not None:
            slot_size = pm.require_int("PM_MCUBOOT_PRIMARY_SIZE")
            header_size = pm.require_int("PM_MCUBOOT_PAD_SIZE")
            pad_header = True
            slot_addr = pm.integer("PM_MCUBOOT_PRIMARY_ADDRESS")
            load_address = pm.integer("PM_APP_ADDRESS")
            if mcuboot.mode in (UpgradeMode.DIRECT_XIP, UpgradeMode.DIRECT_XIP_REVERT):
                rom_fixed = slot_addr
        else:
            if app.dts is None:
                raise BuildError(
                    f"{zdir}/zephyr.dts is missing: without Partition Manager the slot sizes "
                    "come from the devicetree; rebuild the project"
                )
            slot0 = app.dts.partition("slot0_partition")
            if slot0 is None:
                raise BuildError(
                    f"{zdir}/zephyr.dts has no slot0_partition; MCUboot builds need one"
                )
            slot1 = app.dts.partition("slot1_partition")
            header_size = cfg.require_int("CONFIG_ROM_START_OFFSET")
            pad_header = False
            slot_addr = slot0.address
            load_address = slot0.address
            slot_size = slot0.size
            if flavour is Flavour.NCS_SYSBUILD:
                # image_signing.cmake without PM: primary slot size; --rom-fixed for direct-XIP.
                if mcuboot.mode in (UpgradeMode.DIRECT_XIP, UpgradeMode.DIRECT_XIP_REVERT):
                    rom_fixed = slot0.address
            else:
                # cmake/mcuboot.cmake decides from the application's own Kconfig: slot1's size
                # ("can be one sector smaller" in swap-move) unless single-app / updater,
                # --overwrite-only --align 1, or RAM-load's --align 1 --load-addr <zephyr,sram>.
                single = cfg.is_set("CONFIG_MCUBOOT_BOOTLOADER_MODE_SINGLE_APP") or (
                    cfg.is_set("CONFIG_MCUBOOT_BOOTLOADER_MODE_FIRMWARE_UPDATER")
                    and not cfg.is_set("CONFIG_MCUBOOT_APPLICATION_FIRMWARE_UPDATER")
                )
                if slot1 is not None and not single:
                    slot_size = slot1.size
                if cfg.is_set("CONFIG_MCUBOOT_IMGTOOL_OVERWRITE_ONLY"):
                    align, overwrite_only = 1, True
                elif cfg.is_set("CONFIG_MCUBOOT_BOOTLOADER_MODE_RAM_LOAD"):
                    align = 1
                    sram = app.dts.chosen("zephyr,sram")
                    regs = sram.reg() if sram is not None else []
                    ram_load = regs[0][0] if regs else None
        input_name = "tfm_merged.hex" if cfg.is_set("CONFIG_BUILD_WITH_TFM") else f"{kernel}.bin"
        input_path = zdir / input_name
        if not input_path.is_file():
            raise BuildError(
                f"{input_path} is missing; it is the image the SDK signs. Build with "
                "CONFIG_BUILD_OUTPUT_BIN=y (the default) and without -p between build and seal"
            )
        outputs = {
            "encrypted_bin": zdir / f"{kernel}.signed.encrypted.bin",
            "encrypted_hex": zdir / f"{kernel}.signed.encrypted.hex",
            "factory_hex": zdir / f"{kernel}.signed.hex",
        }
        sdk_bin, sdk_hex = zdir / f"{kernel}.signed.bin", zdir / f"{kernel}.signed.hex"

    # image_signing.cmake: --pure wins over --sha 512 (imgtool refuses both); before
    # CONFIG_MCUBOOT_BOOTLOADER_USES_SHA512 existed, nRF54L + Ed25519 meant --sha 512.
    pure = cfg.is_set("CONFIG_MCUBOOT_BOOTLOADER_SIGNATURE_TYPE_PURE")
    nrf54l_ed25519 = (
        flavour.is_ncs
        and (cfg.is_set("CONFIG_SOC_SERIES_NRF54L") or cfg.is_set("CONFIG_SOC_SERIES_NRF54LX"))
        and cfg.is_set("CONFIG_MCUBOOT_BOOTLOADER_SIGNATURE_TYPE_ED25519")
    )
    sha = None
    if not pure and (
        cfg.is_set("CONFIG_MCUBOOT_BOOTLOADER_USES_SHA512")
        or ("CONFIG_MCUBOOT_BOOTLOADER_USES_SHA512" not in cfg and nrf54l_ed25519)
    ):
        sha = 512
    counter = (
        cfg.integer("CONFIG_MCUBOOT_HW_DOWNGRADE_PREVENTION_COUNTER_VALUE")
        if cfg.is_set("CONFIG_MCUBOOT_HARDWARE_DOWNGRADE_PREVENTION")
        else None
    )
    # What the SDK signs with; the preflight compares it with MCUboot's AES size.
    keylen = 256 if cfg.is_set("CONFIG_MCUBOOT_ENCRYPTION_ALG_AES_256") else 128
    # image_signing.cmake: "Only NRF54L gets the HMAC-SHA512".
    hmac = 512 if nrf54l_ed25519 else None
    vid = cid = None
    if cfg.is_set("CONFIG_MCUBOOT_IMGTOOL_UUID_VID"):
        vid = cfg.string("CONFIG_MCUBOOT_IMGTOOL_UUID_VID_NAME")
    if cfg.is_set("CONFIG_MCUBOOT_IMGTOOL_UUID_CID"):
        cid = cfg.string("CONFIG_MCUBOOT_IMGTOOL_UUID_CID_NAME")
    notes.extend(local)
    return ImagePlan(
        name=app.name if flavour.is_sysbuild else "app",
        role="app",
        image_number=image_number,
        input_path=input_path,
        slot_size=slot_size,
        header_size=header_size,
        pad_header=pad_header,
        align=align,
        version=version,
        slot_addr=slot_addr,
        load_address=load_address,
        encrypt=True,
        rom_fixed=rom_fixed,
        ram_load_addr=ram_load,
        overwrite_only=overwrite_only,
        sha=sha,
        pure=pure,
        security_counter=counter,
        hmac_sha=hmac,
        encrypt_keylen=keylen,
        extra_args=extra,
        vid=vid,
        cid=cid,
        sdk_signed_bin=sdk_bin if sdk_bin.is_file() else None,
        sdk_signed_hex=sdk_hex if sdk_hex.is_file() else None,
        outputs=outputs,
        notes=tuple(local),
    )


def _netcore_plan(build: BuildInfo, encrypt: bool, notes: list[str]) -> ImagePlan:
    net = build.netcore
    assert net is not None
    sb = build.sysbuild_config or DotConfig()
    pm = build.pm or DotConfig()
    root = build.build_dir
    number = sb.integer("SB_CONFIG_MCUBOOT_NETWORK_CORE_IMAGE_NUMBER")
    if number is None and build.mcuboot is not None:
        number = build.mcuboot.config.integer("CONFIG_MCUBOOT_NETWORK_CORE_IMAGE_NUMBER")
    number = 1 if number is None or number < 0 else number
    pm_net = build.pm_cpunet
    load_address = pm_net.integer("PM_APP_ADDRESS") if pm_net is not None else None
    if load_address is None:
        load_address = pm.integer("PM_CPUNET_APP_ADDRESS")
    slot_addr = pm.integer("PM_MCUBOOT_PRIMARY_1_ADDRESS")
    if build.flavour is Flavour.NCS_CHILD_IMAGE:
        # nrf/cmake/partition_manager.cmake: net_app_slot_size is the *secondary* slot's
        # size ("_1" with MCUboot's NRF53_MULTI_IMAGE_UPDATE); the app's sign_cmd (align
        # CONFIG_MCUBOOT_FLASH_WRITE_BLOCK_SIZE) signs the net core too.
        multi = build.mcuboot is not None and build.mcuboot.config.is_set(
            "CONFIG_NRF53_MULTI_IMAGE_UPDATE"
        )
        slot_size = pm.integer(f"PM_MCUBOOT_SECONDARY{'_1' if multi else ''}_SIZE") or 0
        align = _v1_align(build.app.config)
        reuse = root / "zephyr" / "net_core_app_update.bin"
        input_path = root / "zephyr" / "net_core_app_to_sign.bin"
        version, _ = _version_of(build.app.config, "CONFIG_MCUBOOT_IMAGE_VERSION")
        header = pm.integer("PM_MCUBOOT_PAD_SIZE", DEFAULT_NCS_PAD) or DEFAULT_NCS_PAD
        outputs = {"encrypted_bin": root / "zephyr" / "net_core_app_update.encrypted.bin"}
    else:
        # b0_mcuboot_signing.cmake: PM_MCUBOOT_PRIMARY_1_SIZE, --align 4.
        slot_size = pm.integer("PM_MCUBOOT_PRIMARY_1_SIZE") or 0
        align = 4
        reuse = root / f"signed_by_mcuboot_and_b0_{net.name}.bin"
        input_path = root / f"signed_by_b0_{net.name}.bin"
        version = sb.string("SB_CONFIG_SECURE_BOOT_MCUBOOT_VERSION") or DEFAULT_VERSION
        header = sb.integer("SB_CONFIG_PM_MCUBOOT_PAD", DEFAULT_NCS_PAD) or DEFAULT_NCS_PAD
        outputs = {"encrypted_bin": root / f"signed_by_mcuboot_and_b0_{net.name}.encrypted.bin"}
    if not reuse.is_file():
        notes.append(f"network-core update file {reuse.name} is missing; it is left out")
    return ImagePlan(
        name=net.name,
        role="netcore",
        image_number=number,
        input_path=input_path,
        slot_size=slot_size,
        header_size=header,
        pad_header=True,
        align=align,
        version=version,
        slot_addr=slot_addr,
        load_address=load_address,
        encrypt=encrypt,
        reuse_path=reuse if reuse.is_file() else None,
        outputs=outputs if encrypt else {},
        notes=(
            ("EXPERIMENTAL: network-core image encrypted (--encrypt-netcore)",)
            if encrypt
            else ("reused unchanged as the SDK signed it: b0n validates plaintext after PCD",)
        ),
    )


def _secondary_external(build: BuildInfo) -> bool | None:
    sb = build.sysbuild_config or DotConfig()
    name = "PM_EXTERNAL_FLASH_MCUBOOT_SECONDARY"
    if f"SB_CONFIG_{name}" in sb or f"CONFIG_{name}" in build.app.config:
        return sb.is_set(f"SB_CONFIG_{name}") or build.app.config.is_set(f"CONFIG_{name}")
    if build.pm is not None:
        return _pm_secondary_region(build.build_dir / "partitions.yml")
    dts = build.app.dts
    if dts is not None:
        slot1 = dts.partition("slot1_partition")
        if slot1 is not None:
            return not slot1.memory_mapped
    return None


def _pm_secondary_region(path: Path) -> bool | None:
    """Partition Manager's partitions.yml (optional): is mcuboot_secondary external?"""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    entry = doc.get("mcuboot_secondary") if isinstance(doc, dict) else None
    region = entry.get("region") if isinstance(entry, dict) else None
    return region == "external_flash" if isinstance(region, str) else None


def _resolve(raw: str, base: Path | None) -> Path | None:
    path = Path(os.path.expandvars(raw))
    if path.is_absolute():
        return path
    return base / path if base is not None else None


def _encryption_key_candidates(
    build: BuildInfo, topdir: Path | None, notes: list[str]
) -> list[KeyRef]:
    sb = build.sysbuild_config or DotConfig()
    app = build.app.config
    mb = build.mcuboot.config if build.mcuboot else DotConfig()
    base = _mcuboot_conf_dirs(build, topdir)
    app_dirs = _app_conf_dirs(build, topdir)
    entries: list[tuple[str, str | None, list[Path | None]]] = [
        (
            "SB_CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE",
            sb.string("SB_CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE"),
            app_dirs,
        ),
        (
            "CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE",
            app.string("CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE"),
            app_dirs,
        ),
    ]
    if sb.is_set("SB_CONFIG_BOOT_ENCRYPTION"):
        entries.append(
            (
                "SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE",
                sb.string("SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE"),
                app_dirs,
            )
        )
    entries += [
        (
            "CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE",
            app.string("CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE"),
            app_dirs,
        ),
        (
            "MCUboot CONFIG_BOOT_ENCRYPTION_KEY_FILE",
            mb.string("CONFIG_BOOT_ENCRYPTION_KEY_FILE"),
            base,
        ),
    ]
    _, extra_key = _split_encrypt_arg(_extra_args(app))
    entries.append(("CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS (-E)", extra_key, app_dirs))
    return _candidates(entries, notes)


def _signature_key_candidates(
    build: BuildInfo, topdir: Path | None, notes: list[str]
) -> list[KeyRef]:
    sb = build.sysbuild_config or DotConfig()
    app = build.app.config
    mb = build.mcuboot.config if build.mcuboot else DotConfig()
    app_dirs = _app_conf_dirs(build, topdir)
    entries: list[tuple[str, str | None, list[Path | None]]] = [
        (
            "SB_CONFIG_BOOT_SIGNATURE_KEY_FILE",
            sb.string("SB_CONFIG_BOOT_SIGNATURE_KEY_FILE"),
            app_dirs,
        ),
    ]
    if build.flavour is not Flavour.NCS_CHILD_IMAGE:
        # NCS v1.x warns that this option "will be ignored" and signs with MCUboot's key.
        entries.append(
            (
                "CONFIG_MCUBOOT_SIGNATURE_KEY_FILE",
                app.string("CONFIG_MCUBOOT_SIGNATURE_KEY_FILE"),
                app_dirs,
            )
        )
    entries.append(
        (
            "MCUboot CONFIG_BOOT_SIGNATURE_KEY_FILE",
            mb.string("CONFIG_BOOT_SIGNATURE_KEY_FILE"),
            _mcuboot_conf_dirs(build, topdir),
        )
    )
    return _candidates(entries, notes)


def _candidates(
    entries: list[tuple[str, str | None, list[Path | None]]], notes: list[str]
) -> list[KeyRef]:
    out: list[KeyRef] = []
    for source, raw, bases in entries:
        if not raw:
            continue
        resolved = [p for p in (_resolve(raw, b) for b in bases) if p is not None]
        existing = next((p for p in resolved if p.is_file()), None)
        chosen = existing or (resolved[0] if resolved else None)
        if chosen is None:
            notes.append(
                f"{source}={raw!r} is a relative path and the west workspace is unknown; "
                "run inside the workspace or pass the key explicitly"
            )
            continue
        out.append(KeyRef(path=chosen, source=source, raw=raw))
    return out


def _app_conf_dirs(build: BuildInfo, topdir: Path | None) -> list[Path | None]:
    """Where the build's relative key paths resolve.

    Zephyr's cmake/mcuboot.cmake and NCS's sysbuild signing (newer releases): the
    application configuration directory when the file is there, else the west top
    directory (older releases: the top directory only, which the existence test keeps).
    """
    conf = build.cmake_cache.get("APPLICATION_CONFIG_DIR")
    if build.flavour is Flavour.NCS_CHILD_IMAGE or not conf:
        return [topdir]
    return [Path(conf), topdir]


def _mcuboot_conf_dirs(build: BuildInfo, topdir: Path | None) -> list[Path | None]:
    """Where MCUboot's relative key paths resolve.

    NCS v1.x (nrf/modules/mcuboot/CMakeLists.txt): MCUboot's configuration directory, then
    the MCUboot repository.  Sysbuild and Zephyr: as the application's own key paths.
    """
    if build.flavour is not Flavour.NCS_CHILD_IMAGE:
        return _app_conf_dirs(build, topdir)
    dirs: list[Path | None] = []
    # nrf/modules/mcuboot: the directory of the parent's mcuboot_CONF_FILE, else MCUBOOT_DIR.
    for conf in (
        build.cmake_cache.get("mcuboot_CONF_FILE"),
        build.mcuboot_cmake_cache.get("CONF_FILE"),
    ):
        if conf:
            dirs.append(Path(conf.split(";")[0]).parent)
    zephyr_base = build.cmake_cache.get("ZEPHYR_BASE")
    if zephyr_base:
        dirs.append(Path(zephyr_base).parent / "bootloader" / "mcuboot")
    dirs.append(topdir)
    return dirs
