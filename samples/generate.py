#!/usr/bin/env python3
"""Generate the synthetic Zephyr / nRF Connect SDK build directories in ``samples/``.

No SDK was run: every file is written from the layouts, file names and Kconfig names that
the SDKs' own CMake produces (see README.md).  The SDK-signed files are made with the real
``imgtool`` (the tool the SDKs call) exactly as the SDK's CMake would call it, so mcuseal
can be tested against them.  Binaries are small and deterministic; keys are generated once
with ``cryptography`` into ``samples/keys/`` (they are public: DEVELOPMENT ONLY).

Usage: python samples/generate.py [--out DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from intelhex import IntelHex

HERE = Path(__file__).resolve().parent
KEYS = HERE / "keys"
# Paths as a west workspace sees them: the repository is the project "mcuseal".
WS_KEYS = "mcuseal/samples/keys"
SIGN_EC = "sample-sign-ec-p256.pem"
ENC_EC = "sample-enc-ec256-priv.pem"
SIGN_ED = "sample-sign-ed25519.pem"
ENC_X = "sample-enc-x25519-priv.pem"
# Where the fictional developer's workspace was; domains.yaml records absolute paths.
FAKE_WS = "/home/dev/ncs"
MTIME = 1795310914  # fixed, so regenerated zips differ only where content does


def ensure_keys() -> None:
    KEYS.mkdir(exist_ok=True)
    makers = {
        SIGN_EC: lambda: ec.generate_private_key(ec.SECP256R1()),
        ENC_EC: lambda: ec.generate_private_key(ec.SECP256R1()),
        SIGN_ED: ed25519.Ed25519PrivateKey.generate,
        ENC_X: x25519.X25519PrivateKey.generate,
    }
    for name, make in makers.items():
        path = KEYS / name
        if path.exists():
            continue
        pem = make().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.write_bytes(pem)


def dotconfig(values: dict[str, object]) -> str:
    lines = ["#", "# Automatically generated file; DO NOT EDIT.", "#"]
    for key, value in values.items():
        if value is True:
            lines.append(f"{key}=y")
        elif value is False:
            lines.append(f"# {key} is not set")
        elif isinstance(value, int):
            lines.append(f"{key}={value}" if value < 0x100 else f"{key}={value:#x}")
        else:
            text = str(value).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{key}="{text}"')
    return "\n".join(lines) + "\n"


def pmconfig(values: dict[str, object]) -> str:
    out = []
    for key, value in values.items():
        out.append(f"{key}={value:#x}" if isinstance(value, int) else f'{key}="{value}"')
    return "\n".join(out) + "\n"


def firmware(size: int, vector_addr: int, sp: int, seed: str) -> bytes:
    """A small Cortex-M image: initial SP, a Thumb reset vector inside the image, filler."""
    reset = vector_addr + 0x1C1
    body = bytearray(struct.pack("<II", sp, reset))
    counter = 0
    while len(body) < size:
        body += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(body[:size])


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def write_hex(path: Path, data: bytes, base: int) -> Path:
    ih = IntelHex()
    ih.frombytes(data, offset=base)
    path.parent.mkdir(parents=True, exist_ok=True)
    ih.write_hex_file(str(path))
    return path


def merge_hex(path: Path, *parts: Path) -> Path:
    merged = IntelHex()
    for part in parts:
        merged.merge(IntelHex(str(part)), overlap="error")
    merged.write_hex_file(str(path))
    return path


def imgtool(*args: str) -> None:
    exe = Path(sys.executable).parent / "imgtool"
    subprocess.run([str(exe), "sign", *args], check=True, capture_output=True)


def version_headers(zephyr_dir: Path, zephyr: str, ncs: str | None, new_layout: bool) -> None:
    gen = zephyr_dir / "include" / "generated"
    vh = gen / "zephyr" / "version.h" if new_layout else gen / "version.h"
    major, minor, patch = (int(x) for x in zephyr.split("."))
    write(
        vh,
        "#ifndef _KERNEL_VERSION_H_\n#define _KERNEL_VERSION_H_\n\n"
        f"#define ZEPHYR_VERSION_CODE {(major << 16) | (minor << 8) | patch}\n"
        f"#define KERNEL_VERSION_MAJOR {major}\n#define KERNEL_VERSION_MINOR {minor}\n"
        f"#define KERNEL_PATCHLEVEL {patch}\n"
        f'#define KERNEL_VERSION_STRING "{zephyr}"\n\n#endif\n',
    )
    if ncs:
        a, b, c = (int(x) for x in ncs.split("."))
        write(
            gen / "ncs_version.h",
            "#ifndef NCS_VERSION_H__\n#define NCS_VERSION_H__\n\n"
            f"#define NCS_VERSION_MAJOR {a}\n#define NCS_VERSION_MINOR {b}\n"
            f"#define NCS_PATCHLEVEL {c}\n"
            f"#define NCS_VERSION_NUMBER {(a << 16) | (b << 8) | c:#x}\n"
            f'#define NCS_VERSION_STRING "{ncs}"\n\n#endif\n',
        )


def dfu_zip(
    out: Path, files: list[tuple[Path, str]], params: list[str], fmt: int, name: str | None
) -> None:
    """What nrf/scripts/bootloader/generate_zip.py writes (values 0x.. become ints)."""
    zip_names = [z for _, z in files]
    shared: dict[str, object] = {}
    per_file: dict[str, dict[str, object]] = {z: {} for z in zip_names}
    for param in params:
        key, value = param.split("=")[0], param.split("=")[1]
        val: object = int(value, 16) if value.startswith("0x") else value
        owner = next((z for z in zip_names if key.startswith(z)), None)
        if owner is None:
            shared[key] = val
        else:
            per_file[owner][key[len(owner) :]] = val
    manifest: dict[str, object] = {"format-version": fmt, "time": MTIME, "files": []}
    entries = []
    for src, zname in files:
        entry = dict(shared)
        entry.update(per_file[zname])
        entry.update({"size": src.stat().st_size, "file": zname, "modtime": MTIME})
        entries.append(entry)
    manifest["files"] = entries
    if name:
        manifest["name"] = name
    text = json.dumps(manifest, indent=4)
    write(Path(str(out) + "_manifest.json"), text)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for src, zname in files:
            zf.writestr(zipfile.ZipInfo(zname, date_time=(2026, 11, 22, 0, 0, 0)), src.read_bytes())
        zf.writestr(zipfile.ZipInfo("manifest.json", date_time=(2026, 11, 22, 0, 0, 0)), text)


def domains_yaml(
    out: Path, build_dir: str, default: str, images: list[str], order: list[str]
) -> None:
    """sysbuild's domains.yaml, with the absolute paths of the machine that built it."""

    doc = {
        "default": default,
        "build_dir": build_dir,
        "domains": [{"name": n, "build_dir": f"{build_dir}/{n}"} for n in images],
        "flash_order": order,
    }
    write(out / "domains.yaml", yaml.safe_dump(doc, sort_keys=False))


def sign_sdk_outputs(zdir: Path, sign: list[str], enc: list[str]) -> None:
    """zephyr.signed.{bin,hex} and zephyr.signed.encrypted.{bin,hex} as the SDK makes them
    when an encryption key is configured (the signed hex gets ``--encrypt KEY --clear``)."""
    imgtool(*sign, str(zdir / "zephyr.bin"), str(zdir / "zephyr.signed.bin"))
    imgtool(*sign, *enc, str(zdir / "zephyr.bin"), str(zdir / "zephyr.signed.encrypted.bin"))
    imgtool(*sign, *enc, "--clear", str(zdir / "zephyr.hex"), str(zdir / "zephyr.signed.hex"))
    imgtool(*sign, *enc, str(zdir / "zephyr.hex"), str(zdir / "zephyr.signed.encrypted.hex"))


def nrf5340_dts(secondary_external: bool) -> str:
    ext = (
        """
				mx25r64: mx25r6435f@0 {
					compatible = "nordic,qspi-nor";
					reg = < 0x0 >;
					write-block-size = < 0x1 >;
				};"""
        if secondary_external
        else ""
    )
    return f"""/dts-v1/;

/ {{
	#address-cells = < 0x1 >;
	#size-cells = < 0x1 >;
	model = "Nordic NRF5340 DK NRF5340 Application";
	compatible = "nordic,nrf5340-dk-nrf5340-cpuapp";
	chosen {{
		zephyr,flash = &flash0;
		zephyr,sram = &sram0_image;
		zephyr,code-partition = &slot0_partition;
	}};
	soc {{
		#address-cells = < 0x1 >;
		#size-cells = < 0x1 >;
		peripheral@50000000 {{
			#address-cells = < 0x1 >;
			#size-cells = < 0x1 >;
			flash_controller: flash-controller@39000 {{
				compatible = "nordic,nrf53-flash-controller";
				reg = < 0x39000 0x1000 >;
				#address-cells = < 0x1 >;
				#size-cells = < 0x1 >;
				flash0: flash@0 {{
					compatible = "soc-nv-flash";
					erase-block-size = < 0x1000 >;
					write-block-size = < 0x4 >;
					reg = < 0x0 0x100000 >;
				}};
			}};
			qspi: qspi@2b000 {{
				compatible = "nordic,nrf-qspi";
				#address-cells = < 0x1 >;
				#size-cells = < 0x0 >;
				reg = < 0x2b000 0x1000 >, < 0x10000000 0x10000000 >;{ext}
			}};
		}};
		sram0_image: image@20000000 {{
			compatible = "zephyr,memory-region", "mmio-sram";
			reg = < 0x20000000 0x70000 >;
		}};
	}};
}};
"""


def nrf52840_dts() -> str:
    return """/dts-v1/;

/ {
	#address-cells = < 0x1 >;
	#size-cells = < 0x1 >;
	model = "Nordic nRF52840 DK NRF52840";
	compatible = "nordic,nrf52840-dk-nrf52840";
	chosen {
		zephyr,flash = &flash0;
		zephyr,sram = &sram0;
		zephyr,code-partition = &slot0_partition;
	};
	soc {
		#address-cells = < 0x1 >;
		#size-cells = < 0x1 >;
		/* node '/soc/flash-controller@4001e000' defined in nordic/nrf52840.dtsi */
		flash_controller: flash-controller@4001e000 {
			compatible = "nordic,nrf52-flash-controller";
			reg = < 0x4001e000 0x1000 >;
			#address-cells = < 0x1 >;
			#size-cells = < 0x1 >;
			flash0: flash@0 {
				compatible = "soc-nv-flash";
				erase-block-size = < 0x1000 >;
				write-block-size = < 0x4 >;
				reg = < 0x0 0x100000 >;
				partitions {
					compatible = "fixed-partitions";
					#address-cells = < 0x1 >;
					#size-cells = < 0x1 >;
					boot_partition: partition@0 {
						label = "mcuboot";
						reg = < 0x0 0xc000 >;
					};
					slot0_partition: partition@c000 {
						label = "image-0";
						reg = < 0xc000 0x77000 >;
					};
					slot1_partition: partition@83000 {
						label = "image-1";
						reg = < 0x83000 0x75000 >;
					};
					storage_partition: partition@f8000 {
						label = "storage";
						reg = < 0xf8000 0x8000 >;
					};
				};
			};
		};
		sram0: memory@20000000 {
			compatible = "mmio-sram";
			reg = < 0x20000000 0x40000 >;
		};
	};
};
"""


def nrf54l15_dts() -> str:
    return """/dts-v1/;

/ {
	#address-cells = < 0x1 >;
	#size-cells = < 0x1 >;
	model = "Nordic nRF54L15 DK nRF54L15 Application MCU";
	chosen {
		zephyr,flash = &cpuapp_rram;
		zephyr,sram = &cpuapp_sram;
	};
	soc {
		#address-cells = < 0x1 >;
		#size-cells = < 0x1 >;
		rram_controller: rram-controller@5004b000 {
			compatible = "nordic,rram-controller";
			reg = < 0x5004b000 0x1000 >;
			#address-cells = < 0x1 >;
			#size-cells = < 0x1 >;
			cpuapp_rram: rram@0 {
				compatible = "soc-nv-flash";
				erase-block-size = < 0x1000 >;
				write-block-size = < 0x10 >;
				reg = < 0x0 0x17d000 >;
			};
		};
		cpuapp_sram: memory@20000000 {
			compatible = "mmio-sram";
			reg = < 0x20000000 0x2f000 >;
		};
	};
};
"""


def mcuboot_hex(path: Path, size: int) -> Path:
    return write_hex(path, firmware(size, 0, 0x20010000, "mcuboot"), 0)


# --------------------------------------------------------------------------------------
# (a) / (a2): NCS v1.7.1 child/parent images, nRF5340


def ncs17(out: Path, netcore: bool) -> None:
    key = f"{WS_KEYS}/{SIGN_EC}"
    app_cfg: dict[str, object] = {
        "CONFIG_BOARD": "nrf5340dk_nrf5340_cpuapp",
        "CONFIG_SOC_SERIES_NRF53X": True,
        "CONFIG_SOC_NRF5340_CPUAPP": True,
        "CONFIG_SOC_NRF5340_CPUAPP_QKAA": True,
        "CONFIG_BOOTLOADER_MCUBOOT": True,
        "CONFIG_MCUBOOT_IMAGE_VERSION": "1.2.0+0",
        "CONFIG_MCUBOOT_FLASH_WRITE_BLOCK_SIZE": 4,
        # The reference user's attempt: NCS v1.x never forwards it to imgtool.
        "CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS": f"-E {WS_KEYS}/{ENC_EC}",
        "CONFIG_KERNEL_BIN_NAME": "zephyr",
        "CONFIG_BUILD_OUTPUT_BIN": True,
        "CONFIG_BUILD_OUTPUT_HEX": True,
        "CONFIG_PARTITION_MANAGER_ENABLED": True,
        "CONFIG_BT_RPMSG_NRF53": True,
        "CONFIG_NRF53_UPGRADE_NETWORK_CORE": netcore,
        "CONFIG_ROM_START_OFFSET": 0,
    }
    mcuboot_cfg: dict[str, object] = {
        "CONFIG_BOARD": "nrf5340dk_nrf5340_cpuapp",
        "CONFIG_SOC_NRF5340_CPUAPP": True,
        "CONFIG_SOC_NRF5340_CPUAPP_QKAA": True,
        "CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256": True,
        "CONFIG_BOOT_SIGNATURE_KEY_FILE": key,
        "CONFIG_BOOT_ENCRYPT_EC256": True,
        "CONFIG_BOOT_UPGRADE_ONLY": netcore,
        "CONFIG_BOOT_SWAP_USING_MOVE": not netcore,
        "CONFIG_UPDATEABLE_IMAGE_NUMBER": 2 if netcore else 1,
        "CONFIG_NRF53_MULTI_IMAGE_UPDATE": netcore,
        "CONFIG_FLASH_SIMULATOR": netcore,
        "CONFIG_PCD_APP": netcore,
        "CONFIG_BOOT_MAX_IMG_SECTORS": 256,
    }
    pm: dict[str, object] = {
        "PM_MCUBOOT_OFFSET": 0x0,
        "PM_MCUBOOT_ADDRESS": 0x0,
        "PM_MCUBOOT_SIZE": 0xC000,
        "PM_MCUBOOT_NAME": "mcuboot",
        "PM_MCUBOOT_PAD_ADDRESS": 0xC000,
        "PM_MCUBOOT_PAD_SIZE": 0x200,
        "PM_MCUBOOT_PRIMARY_ADDRESS": 0xC000,
        "PM_MCUBOOT_PRIMARY_SIZE": 0x74000,
        "PM_MCUBOOT_PRIMARY_APP_ADDRESS": 0xC200,
        "PM_MCUBOOT_PRIMARY_APP_SIZE": 0x73E00,
        "PM_APP_ADDRESS": 0xC200,
        "PM_APP_SIZE": 0x73E00,
        "PM_MCUBOOT_SECONDARY_ADDRESS": 0x80000,
        "PM_MCUBOOT_SECONDARY_SIZE": 0x74000,
        "PM_SETTINGS_STORAGE_ADDRESS": 0xF8000,
        "PM_SETTINGS_STORAGE_SIZE": 0x8000,
    }
    if netcore:
        pm.update(
            {
                "PM_MCUBOOT_PRIMARY_1_ADDRESS": 0x0,
                "PM_MCUBOOT_PRIMARY_1_SIZE": 0x40000,
                "PM_MCUBOOT_PRIMARY_1_DEV_NAME": "flash_sim0",
                "PM_CPUNET_B0N_ADDRESS": 0x1000000,
                "PM_CPUNET_B0N_SIZE": 0x8580,
                "PM_CPUNET_APP_ADDRESS": 0x1008800,
                "PM_CPUNET_APP_SIZE": 0x37800,
            }
        )
    write(out / "zephyr" / ".config", dotconfig(app_cfg))
    write(out / "mcuboot" / "zephyr" / ".config", dotconfig(mcuboot_cfg))
    write(out / "pm.config", pmconfig(pm))
    write(
        out / "hci_rpmsg" / "zephyr" / ".config",
        dotconfig(
            {
                "CONFIG_BOARD": "nrf5340dk_nrf5340_cpunet",
                "CONFIG_SOC_NRF5340_CPUNET": True,
                "CONFIG_SOC_NRF5340_CPUNET_QKAA": True,
                "CONFIG_FW_INFO_FIRMWARE_VERSION": 1,
                "CONFIG_SECURE_BOOT": netcore,
            }
        ),
    )
    version_headers(out / "zephyr", "2.6.99", "1.7.1", new_layout=False)
    zdir = out / "zephyr"
    app = firmware(0x1400, 0xC200, 0x20010000, "ncs17-app")
    write(zdir / "zephyr.bin", app)
    write_hex(zdir / "zephyr.hex", app, 0xC200)
    write_hex(zdir / "mcuboot_primary_app.hex", app, 0xC200)
    write(zdir / "app_to_sign.bin", app)
    keyfile = str(KEYS / SIGN_EC)
    sign = ["--key", keyfile, "--header-size", "0x200", "--align", "4", "--version", "1.2.0+0"]
    sign += ["--slot-size", "0x74000", "--pad-header"]
    imgtool(*sign, str(zdir / "mcuboot_primary_app.hex"), str(zdir / "app_signed.hex"))
    imgtool(*sign, str(zdir / "app_to_sign.bin"), str(zdir / "app_update.bin"))
    mcuboot_hex(out / "mcuboot" / "zephyr" / "zephyr.hex", 0x800)
    merge_hex(
        zdir / "merged.hex", out / "mcuboot" / "zephyr" / "zephyr.hex", zdir / "app_signed.hex"
    )
    files = [(zdir / "app_update.bin", "app_update.bin")]
    params = ["type=application", "board=nrf5340dk_nrf5340_cpuapp", "soc=nRF5340_CPUAPP_QKAA"]
    if netcore:
        net = firmware(0xC00, 0x1008800, 0x21010000, "ncs17-net")
        write(out / "hci_rpmsg" / "zephyr" / "zephyr.bin", net)
        write(zdir / "net_core_app_to_sign.bin", net)
        imgtool(
            *sign, str(zdir / "net_core_app_to_sign.bin"), str(zdir / "net_core_app_update.bin")
        )
        files.append((zdir / "net_core_app_update.bin", "net_core_app_update.bin"))
        params += [
            "app_update.binimage_index=0",
            "app_update.binslot_index_primary=1",
            "app_update.binslot_index_secondary=2",
            "app_update.binload_address=0xc200",
            "app_update.binversion_MCUBOOT=1.2.0+0",
            "net_core_app_update.binimage_index=1",
            "net_core_app_update.binslot_index_primary=3",
            "net_core_app_update.binslot_index_secondary=4",
            "net_core_app_update.binload_address=0x1008800",
            "net_core_app_update.binversion=1",
        ]
    else:
        params += ["load_address=0xc200", "version_MCUBOOT=1.2.0+0"]
    dfu_zip(zdir / "dfu_application.zip", files, params, fmt=0, name=None)


# --------------------------------------------------------------------------------------
# (b) / (c): NCS v2.7.0 sysbuild, nRF5340 app + ipc_radio


def ncs27(out: Path, simultaneous: bool) -> None:
    app_name, net_name = "peripheral_lbs", "ipc_radio"
    sign_key, enc_key = f"{WS_KEYS}/{SIGN_EC}", f"{WS_KEYS}/{ENC_EC}"
    sb = {
        "SB_CONFIG_BOARD": "nrf5340dk",
        "SB_CONFIG_SOC": "nrf5340",
        "SB_CONFIG_SOC_NRF5340_CPUAPP": True,
        "SB_CONFIG_PARTITION_MANAGER": True,
        "SB_CONFIG_BOOTLOADER_MCUBOOT": True,
        "SB_CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256": True,
        "SB_CONFIG_BOOT_SIGNATURE_KEY_FILE": sign_key,
        "SB_CONFIG_BOOT_ENCRYPTION": True,
        "SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE": enc_key,
        "SB_CONFIG_SECURE_BOOT_NETCORE": True,
        "SB_CONFIG_SECURE_BOOT_MCUBOOT_VERSION": "1",
        "SB_CONFIG_NETCORE_APP_UPDATE": True,
        "SB_CONFIG_MCUBOOT_NRF53_MULTI_IMAGE_UPDATE": simultaneous,
        "SB_CONFIG_PM_EXTERNAL_FLASH_MCUBOOT_SECONDARY": simultaneous,
        "SB_CONFIG_MCUBOOT_MODE_OVERWRITE_ONLY": simultaneous,
        "SB_CONFIG_MCUBOOT_MODE_SWAP_WITHOUT_SCRATCH": not simultaneous,
        "SB_CONFIG_NETCORE_IPC_RADIO": True,
        "SB_CONFIG_MCUBOOT_APPLICATION_IMAGE_NUMBER": 0,
        "SB_CONFIG_MCUBOOT_NETWORK_CORE_IMAGE_NUMBER": 1,
        "SB_CONFIG_PM_MCUBOOT_PAD": 0x200,
    }
    app_cfg = {
        "CONFIG_BOARD": "nrf5340dk",
        "CONFIG_BOARD_TARGET": "nrf5340dk/nrf5340/cpuapp",
        "CONFIG_SOC_SERIES_NRF53X": True,
        "CONFIG_SOC_NRF5340_CPUAPP": True,
        "CONFIG_SOC_NRF5340_CPUAPP_QKAA": True,
        "CONFIG_BOOTLOADER_MCUBOOT": True,
        "CONFIG_PARTITION_MANAGER_ENABLED": True,
        "CONFIG_MCUBOOT_SIGNATURE_KEY_FILE": sign_key,
        "CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE": enc_key,
        "CONFIG_MCUBOOT_IMGTOOL_SIGN_VERSION": "1.2.3+4",
        "CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS": "",
        "CONFIG_MCUBOOT_BOOTLOADER_MODE_OVERWRITE_ONLY": simultaneous,
        "CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_WITHOUT_SCRATCH": not simultaneous,
        "CONFIG_MCUBOOT_APPLICATION_IMAGE_NUMBER": 0,
        "CONFIG_MCUBOOT_NETWORK_CORE_IMAGE_NUMBER": 1,
        "CONFIG_ROM_START_OFFSET": 0,
        "CONFIG_KERNEL_BIN_NAME": "zephyr",
        "CONFIG_BUILD_OUTPUT_BIN": True,
        "CONFIG_BUILD_OUTPUT_HEX": True,
    }
    mcuboot_cfg = {
        "CONFIG_BOARD": "nrf5340dk",
        "CONFIG_SOC_NRF5340_CPUAPP": True,
        "CONFIG_SOC_NRF5340_CPUAPP_QKAA": True,
        "CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256": True,
        "CONFIG_BOOT_SIGNATURE_KEY_FILE": sign_key,
        "CONFIG_BOOT_ENCRYPT_IMAGE": True,
        "CONFIG_BOOT_ENCRYPT_EC256": True,
        "CONFIG_BOOT_ENCRYPTION_KEY_FILE": enc_key,
        "CONFIG_BOOT_UPGRADE_ONLY": simultaneous,
        "CONFIG_BOOT_SWAP_USING_MOVE": not simultaneous,
        "CONFIG_BOOT_SWAP_SAVE_ENCTLV": False,
        "CONFIG_UPDATEABLE_IMAGE_NUMBER": 2 if simultaneous else 1,
        "CONFIG_NRF53_MULTI_IMAGE_UPDATE": simultaneous,
        "CONFIG_FLASH_SIMULATOR": simultaneous,
        "CONFIG_PCD_APP": True,
        "CONFIG_MCUBOOT_APPLICATION_IMAGE_NUMBER": 0,
        "CONFIG_MCUBOOT_NETWORK_CORE_IMAGE_NUMBER": 1,
        "CONFIG_PARTITION_MANAGER_ENABLED": True,
    }
    pm: dict[str, object] = {
        "PM_MCUBOOT_ADDRESS": 0x0,
        "PM_MCUBOOT_SIZE": 0x10000,
        "PM_MCUBOOT_PAD_ADDRESS": 0x10000,
        "PM_MCUBOOT_PAD_SIZE": 0x200,
        "PM_MCUBOOT_PRIMARY_ADDRESS": 0x10000,
        "PM_MCUBOOT_PRIMARY_SIZE": 0xE0000 if simultaneous else 0x78000,
        "PM_MCUBOOT_PRIMARY_APP_ADDRESS": 0x10200,
        "PM_APP_ADDRESS": 0x10200,
        "PM_MCUBOOT_SECONDARY_ADDRESS": 0x0 if simultaneous else 0x88000,
        "PM_MCUBOOT_SECONDARY_SIZE": 0xE0000 if simultaneous else 0x78000,
        "PM_CPUNET_B0N_ADDRESS": 0x1000000,
        "PM_CPUNET_B0N_SIZE": 0x8580,
        "PM_CPUNET_APP_ADDRESS": 0x1008800,
        "PM_CPUNET_APP_SIZE": 0x37800,
    }
    if simultaneous:
        pm.update(
            {
                "PM_MCUBOOT_PRIMARY_1_ADDRESS": 0x0,
                "PM_MCUBOOT_PRIMARY_1_SIZE": 0x40000,
                "PM_MCUBOOT_SECONDARY_1_ADDRESS": 0xE0000,
                "PM_MCUBOOT_SECONDARY_1_SIZE": 0x40000,
            }
        )
    net_cfg = {
        "CONFIG_BOARD": "nrf5340dk",
        "CONFIG_BOARD_TARGET": "nrf5340dk/nrf5340/cpunet",
        "CONFIG_SOC_NRF5340_CPUNET": True,
        "CONFIG_SOC_NRF5340_CPUNET_QKAA": True,
        "CONFIG_FW_INFO_FIRMWARE_VERSION": 1,
        "CONFIG_KERNEL_BIN_NAME": "zephyr",
    }
    write(out / "zephyr" / ".config", dotconfig(sb))
    domains_yaml(
        out,
        f"{FAKE_WS}/v2.7.0/nrf/samples/bluetooth/peripheral_lbs/build",
        app_name,
        [app_name, "mcuboot", net_name, "b0n"],
        ["mcuboot", "b0n", app_name, net_name],
    )
    write(out / app_name / "zephyr" / ".config", dotconfig(app_cfg))
    write(out / app_name / "zephyr" / "zephyr.dts", nrf5340_dts(simultaneous))
    write(out / "mcuboot" / "zephyr" / ".config", dotconfig(mcuboot_cfg))
    write(out / net_name / "zephyr" / ".config", dotconfig(net_cfg))
    write(out / "b0n" / "zephyr" / ".config", dotconfig({"CONFIG_SOC_NRF5340_CPUNET": True}))
    write(out / "pm.config", pmconfig(pm))
    write(
        out / "pm_CPUNET.config",
        pmconfig(
            {"PM_B0N_ADDRESS": 0x1000000, "PM_APP_ADDRESS": 0x1008800, "PM_APP_SIZE": 0x37800}
        ),
    )
    version_headers(out / app_name / "zephyr", "3.6.99", "2.7.0", new_layout=True)
    zdir = out / app_name / "zephyr"
    app = firmware(0x1400, 0x10200, 0x20010000, "ncs27-app")
    write(zdir / "zephyr.bin", app)
    write_hex(zdir / "zephyr.hex", app, 0x10200)
    slot = "0xe0000" if simultaneous else "0x78000"
    sign = ["--version", "1.2.3+4", "--align", "4", "--slot-size", slot, "--pad-header"]
    sign += ["--header-size", "0x200", "-k", str(KEYS / SIGN_EC)]
    sign_sdk_outputs(zdir, sign, ["--encrypt", str(KEYS / ENC_EC)])
    net = firmware(0xC00, 0x1008800, 0x21010000, "ncs27-net")
    write(out / net_name / "zephyr" / "zephyr.bin", net)
    # b0n's own validation data is out of scope here: signed_by_b0 is the plain image plus a tag.
    write(out / f"signed_by_b0_{net_name}.bin", net + b"B0N-SIGNED-SAMPLE")
    net_slot = "0x40000" if simultaneous else "0x78000"
    # b0_mcuboot_signing.cmake builds -k into imgtool_extra but never appends it: hash only.
    imgtool(
        "--version",
        "1",
        "--align",
        "4",
        "--slot-size",
        net_slot,
        "--pad-header",
        "--header-size",
        "0x200",
        str(out / f"signed_by_b0_{net_name}.bin"),
        str(out / f"signed_by_mcuboot_and_b0_{net_name}.bin"),
    )
    mcuboot_hex(out / "mcuboot" / "zephyr" / "zephyr.hex", 0x800)
    merge_hex(
        out / "merged.hex", out / "mcuboot" / "zephyr" / "zephyr.hex", zdir / "zephyr.signed.hex"
    )
    write_hex(out / "merged_CPUNET.hex", net, 0x1008800)
    dfu_zip(
        out / "dfu_application.zip",
        [
            (zdir / "zephyr.signed.bin", f"{app_name}.bin"),
            (out / f"signed_by_mcuboot_and_b0_{net_name}.bin", f"{net_name}.bin"),
        ],
        [
            f"{app_name}.binimage_index=0",
            f"{app_name}.binslot_index_primary=1",
            f"{app_name}.binslot_index_secondary=2",
            f"{app_name}.binload_address=0x10200",
            f"{app_name}.binversion_MCUBOOT=1.2.3+4",
            f"{app_name}.binboard=nrf5340dk/nrf5340/cpuapp",
            f"{app_name}.binsoc=nrf5340",
            f"{net_name}.binimage_index=1",
            f"{net_name}.binslot_index_primary=3",
            f"{net_name}.binslot_index_secondary=4",
            f"{net_name}.binload_address=0x1008800",
            f"{net_name}.binversion=1",
            f"{net_name}.binboard=nrf5340dk/nrf5340/cpunet",
            f"{net_name}.binsoc=nrf5340",
            "type=application",
        ],
        fmt=1,
        name=app_name,
    )


# --------------------------------------------------------------------------------------
# (d): Zephyr 4.1 sysbuild, single image, nRF52840


def zephyr41(out: Path) -> None:
    app_name = "hello_world"
    sign_key, enc_key = f"{WS_KEYS}/{SIGN_EC}", f"{WS_KEYS}/{ENC_EC}"
    write(
        out / "zephyr" / ".config",
        dotconfig(
            {
                "SB_CONFIG_BOARD": "nrf52840dk",
                "SB_CONFIG_SOC": "nrf52840",
                "SB_CONFIG_BOOTLOADER_MCUBOOT": True,
                "SB_CONFIG_MCUBOOT_MODE_SWAP_USING_MOVE": True,
                "SB_CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256": True,
                "SB_CONFIG_BOOT_SIGNATURE_KEY_FILE": sign_key,
                "SB_CONFIG_BOOT_ENCRYPTION": True,
                "SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE": enc_key,
            }
        ),
    )
    domains_yaml(
        out,
        f"{FAKE_WS}/zephyrproject/build",
        app_name,
        [app_name, "mcuboot"],
        ["mcuboot", app_name],
    )
    write(
        out / app_name / "zephyr" / ".config",
        dotconfig(
            {
                "CONFIG_BOARD": "nrf52840dk",
                "CONFIG_SOC_NRF52840_QIAA": True,
                "CONFIG_BOOTLOADER_MCUBOOT": True,
                "CONFIG_MCUBOOT_SIGNATURE_KEY_FILE": sign_key,
                "CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE": enc_key,
                "CONFIG_MCUBOOT_IMGTOOL_SIGN_VERSION": "0.1.0+0",
                "CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS": "",
                "CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_USING_MOVE": True,
                "CONFIG_ROM_START_OFFSET": 0x200,
                "CONFIG_KERNEL_BIN_NAME": "zephyr",
                "CONFIG_BUILD_OUTPUT_BIN": True,
                "CONFIG_BUILD_OUTPUT_HEX": True,
            }
        ),
    )
    write(out / app_name / "zephyr" / "zephyr.dts", nrf52840_dts())
    write(
        out / "mcuboot" / "zephyr" / ".config",
        dotconfig(
            {
                "CONFIG_BOARD": "nrf52840dk",
                "CONFIG_SOC_NRF52840_QIAA": True,
                "CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256": True,
                "CONFIG_BOOT_SIGNATURE_KEY_FILE": sign_key,
                "CONFIG_BOOT_ENCRYPT_IMAGE": True,
                "CONFIG_BOOT_ENCRYPT_EC256": True,
                "CONFIG_BOOT_ENCRYPTION_KEY_FILE": enc_key,
                "CONFIG_BOOT_ENCRYPT_ALG_AES_128": True,
                "CONFIG_BOOT_SWAP_USING_MOVE": True,
                "CONFIG_UPDATEABLE_IMAGE_NUMBER": 1,
                "CONFIG_BOOT_SWAP_SAVE_ENCTLV": False,
            }
        ),
    )
    version_headers(out / app_name / "zephyr", "4.1.0", None, new_layout=True)
    zdir = out / app_name / "zephyr"
    # Zephyr links the image with a 0x200 gap for the header (CONFIG_ROM_START_OFFSET).
    app = bytes(0x200) + firmware(0x1000, 0xC000 + 0x200, 0x20010000, "zephyr41-app")
    write(zdir / "zephyr.bin", app)
    write_hex(zdir / "zephyr.hex", app, 0xC000)
    sign = ["--version", "0.1.0+0", "--header-size", "0x200", "--slot-size", "0x75000"]
    sign += ["--align", "4", "--key", str(KEYS / SIGN_EC)]
    sign_sdk_outputs(zdir, sign, ["--encrypt", str(KEYS / ENC_EC)])
    mcuboot_hex(out / "mcuboot" / "zephyr" / "zephyr.hex", 0x800)


# --------------------------------------------------------------------------------------
# (e): NCS v3.1.0 sysbuild, nRF54L15, Ed25519 + X25519 (NCS's mcuboot_with_encryption)


def ncs31(out: Path) -> None:
    app_name = "mcuboot_with_encryption"
    sign_key, enc_key = f"{WS_KEYS}/{SIGN_ED}", f"{WS_KEYS}/{ENC_X}"
    write(
        out / "zephyr" / ".config",
        dotconfig(
            {
                "SB_CONFIG_BOARD": "nrf54l15dk",
                "SB_CONFIG_SOC": "nrf54l15",
                "SB_CONFIG_SOC_SERIES_NRF54LX": True,
                "SB_CONFIG_PARTITION_MANAGER": True,
                "SB_CONFIG_BOOTLOADER_MCUBOOT": True,
                "SB_CONFIG_MCUBOOT_MODE_SWAP_USING_MOVE": True,
                "SB_CONFIG_BOOT_SIGNATURE_TYPE_ED25519": True,
                "SB_CONFIG_BOOT_SIGNATURE_KEY_FILE": sign_key,
                "SB_CONFIG_BOOT_ENCRYPTION": True,
                "SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE": enc_key,
                "SB_CONFIG_MCUBOOT_APPLICATION_IMAGE_NUMBER": 0,
                "SB_CONFIG_PM_MCUBOOT_PAD": 0x800,
            }
        ),
    )
    domains_yaml(
        out,
        f"{FAKE_WS}/v3.1.0/nrf/samples/dfu/{app_name}/build",
        app_name,
        [app_name, "mcuboot"],
        ["mcuboot", app_name],
    )
    write(
        out / app_name / "zephyr" / ".config",
        dotconfig(
            {
                "CONFIG_BOARD": "nrf54l15dk",
                "CONFIG_BOARD_TARGET": "nrf54l15dk/nrf54l15/cpuapp",
                "CONFIG_SOC_SERIES_NRF54L": True,
                "CONFIG_SOC_SERIES_NRF54LX": True,
                "CONFIG_SOC_NRF54L15_CPUAPP": True,
                "CONFIG_BOOTLOADER_MCUBOOT": True,
                "CONFIG_PARTITION_MANAGER_ENABLED": True,
                "CONFIG_MCUBOOT_SIGNATURE_KEY_FILE": sign_key,
                "CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE": enc_key,
                "CONFIG_MCUBOOT_IMGTOOL_SIGN_VERSION": "2.0.0+0",
                "CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS": "",
                "CONFIG_MCUBOOT_BOOTLOADER_SIGNATURE_TYPE_ED25519": True,
                "CONFIG_MCUBOOT_BOOTLOADER_USES_SHA512": True,
                "CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_USING_MOVE": True,
                "CONFIG_MCUBOOT_APPLICATION_IMAGE_NUMBER": 0,
                "CONFIG_ROM_START_OFFSET": 0,
                "CONFIG_KERNEL_BIN_NAME": "zephyr",
                "CONFIG_BUILD_OUTPUT_BIN": True,
                "CONFIG_BUILD_OUTPUT_HEX": True,
            }
        ),
    )
    write(out / app_name / "zephyr" / "zephyr.dts", nrf54l15_dts())
    write(
        out / "mcuboot" / "zephyr" / ".config",
        dotconfig(
            {
                "CONFIG_BOARD": "nrf54l15dk",
                "CONFIG_SOC_SERIES_NRF54LX": True,
                "CONFIG_BOOT_SIGNATURE_TYPE_ED25519": True,
                "CONFIG_BOOT_SIGNATURE_KEY_FILE": sign_key,
                "CONFIG_BOOT_ENCRYPT_IMAGE": True,
                "CONFIG_BOOT_ENCRYPT_X25519": True,
                "CONFIG_BOOT_ENCRYPTION_KEY_FILE": enc_key,
                "CONFIG_BOOT_ENCRYPT_ALG_AES_128": True,
                "CONFIG_BOOT_SWAP_USING_MOVE": True,
                "CONFIG_UPDATEABLE_IMAGE_NUMBER": 1,
                "CONFIG_PARTITION_MANAGER_ENABLED": True,
            }
        ),
    )
    write(
        out / "pm.config",
        pmconfig(
            {
                "PM_MCUBOOT_ADDRESS": 0x0,
                "PM_MCUBOOT_SIZE": 0xC000,
                "PM_MCUBOOT_PAD_ADDRESS": 0xC000,
                "PM_MCUBOOT_PAD_SIZE": 0x800,
                "PM_MCUBOOT_PRIMARY_ADDRESS": 0xC000,
                "PM_MCUBOOT_PRIMARY_SIZE": 0xB8000,
                "PM_MCUBOOT_PRIMARY_APP_ADDRESS": 0xC800,
                "PM_APP_ADDRESS": 0xC800,
                "PM_MCUBOOT_SECONDARY_ADDRESS": 0xC4000,
                "PM_MCUBOOT_SECONDARY_SIZE": 0xB8000,
            }
        ),
    )
    version_headers(out / app_name / "zephyr", "4.1.99", "3.1.0", new_layout=True)
    zdir = out / app_name / "zephyr"
    app = firmware(0x1000, 0xC800, 0x20010000, "ncs31-app")
    write(zdir / "zephyr.bin", app)
    write_hex(zdir / "zephyr.hex", app, 0xC800)
    sign = ["--version", "2.0.0+0", "--align", "16", "--slot-size", "0xb8000", "--pad-header"]
    sign += ["--header-size", "0x800", "-k", str(KEYS / SIGN_ED), "--sha", "512"]
    sign_sdk_outputs(zdir, sign, ["--hmac-sha", "512", "--encrypt", str(KEYS / ENC_X)])
    mcuboot_hex(out / "mcuboot" / "zephyr" / "zephyr.hex", 0x800)
    merge_hex(
        out / "merged.hex", out / "mcuboot" / "zephyr" / "zephyr.hex", zdir / "zephyr.signed.hex"
    )
    dfu_zip(
        out / "dfu_application.zip",
        [(zdir / "zephyr.signed.encrypted.bin", f"{app_name}.signed.encrypted.bin")],
        [
            f"{app_name}.signed.encrypted.binimage_index=0",
            f"{app_name}.signed.encrypted.binslot_index_primary=1",
            f"{app_name}.signed.encrypted.binslot_index_secondary=2",
            f"{app_name}.signed.encrypted.binload_address=0xc800",
            f"{app_name}.signed.encrypted.binversion_MCUBOOT=2.0.0+0",
            "type=application",
            "board=nrf54l15dk/nrf54l15/cpuapp",
            "soc=nrf54l15",
        ],
        fmt=1,
        name=app_name,
    )


SAMPLES = {
    "a_ncs17_nrf5340_netcore": lambda out: ncs17(out, netcore=True),
    "a2_ncs17_nrf5340_app_only": lambda out: ncs17(out, netcore=False),
    "b_ncs27_nrf5340_simultaneous": lambda out: ncs27(out, simultaneous=True),
    "c_ncs27_nrf5340_single_operation": lambda out: ncs27(out, simultaneous=False),
    "d_zephyr41_nrf52840": zephyr41,
    "e_ncs31_nrf54l15_ed25519_x25519": ncs31,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where the sample dirs go")
    parser.add_argument("--only", nargs="*", choices=sorted(SAMPLES), help="samples to make")
    args = parser.parse_args(argv)
    ensure_keys()
    for name in args.only or SAMPLES:
        build = args.out / name / "build"
        if build.exists():
            shutil.rmtree(build)
        SAMPLES[name](build)
        print(f"wrote {build}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
