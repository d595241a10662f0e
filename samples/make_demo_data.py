"""Copy sample (b) into the package as the build ``mcuseal demo`` seals and uploads.

``mcuseal demo`` must work from a plain ``pip install``, so the build directory it uses
ships inside the package (``src/mcuseal/data/demo/build``).  It is sample (b) -- NCS v2.7.0
sysbuild, nRF5340 ``peripheral_lbs`` + ``ipc_radio``, simultaneous multi-image update --
reduced to the files ``mcuseal check``/``seal`` read, with two changes:

* key paths point at ``demo-keys/...``: the demo generates fresh keys there, next to a
  copy of this build, and passes that directory as the west top directory;
* the network core is version 1.1.0 (``SB_CONFIG_SECURE_BOOT_MCUBOOT_VERSION``), so the
  demo's closing table shows both images moving from 1.0.0.

Run: ``.venv/bin/python samples/make_demo_data.py`` (after ``samples/generate.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "b_ncs27_nrf5340_simultaneous" / "build"
DEST = HERE.parent / "src" / "mcuseal" / "data" / "demo" / "build"

FILES = (
    "domains.yaml",
    "pm.config",
    "pm_CPUNET.config",
    "zephyr/.config",
    "mcuboot/zephyr/.config",
    "b0n/zephyr/.config",
    "ipc_radio/zephyr/.config",
    "peripheral_lbs/zephyr/.config",
    "peripheral_lbs/zephyr/zephyr.bin",
    "peripheral_lbs/zephyr/zephyr.dts",
    "peripheral_lbs/zephyr/include/generated/ncs_version.h",
    "peripheral_lbs/zephyr/include/generated/zephyr/version.h",
    "signed_by_b0_ipc_radio.bin",
)
REWRITES = {
    "mcuseal/samples/keys/sample-sign-ec-p256.pem": "demo-keys/sign-ec-p256.pem",
    "mcuseal/samples/keys/sample-enc-ec256-priv.pem": "demo-keys/enc-ec256-priv.pem",
    'SB_CONFIG_SECURE_BOOT_MCUBOOT_VERSION="1"': 'SB_CONFIG_SECURE_BOOT_MCUBOOT_VERSION="1.1.0"',
}


def main() -> None:
    if DEST.exists():
        shutil.rmtree(DEST)
    for name in FILES:
        source, dest = SOURCE / name, DEST / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.name.endswith(".bin"):
            shutil.copyfile(source, dest)
            continue
        text = source.read_text()
        for old, new in REWRITES.items():
            text = text.replace(old, new)
        dest.write_text(text)
    print(f"wrote {DEST.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
