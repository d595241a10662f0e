"""Readers and plan geometry, per SDK flavour, against the generated samples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcuseal.build.plan import UpgradeMode, find_topdir, make_plan
from mcuseal.build.reader import Flavour, read_build
from mcuseal.errors import BuildError

from .conftest import (
    SAMPLE_A,
    SAMPLE_A2,
    SAMPLE_B,
    SAMPLE_C,
    SAMPLE_D,
    SAMPLE_E,
    set_config,
)

Sample = Callable[[str], Path]


def test_ncs_v1_child_image_with_netcore(sample: Sample, workspace: Path) -> None:
    build = read_build(sample(SAMPLE_A))
    assert build.flavour is Flavour.NCS_CHILD_IMAGE
    assert build.version.ncs == (1, 7, 1) and build.version.zephyr == (2, 6, 99)
    assert build.netcore is not None and build.netcore.name == "hci_rpmsg"
    plan = make_plan(build)
    assert plan.topdir == workspace
    app = plan.app
    # nrf/modules/mcuboot/CMakeLists.txt: --header-size PM_MCUBOOT_PAD_SIZE --align
    # CONFIG_MCUBOOT_FLASH_WRITE_BLOCK_SIZE --version CONFIG_MCUBOOT_IMAGE_VERSION
    # --slot-size PM_MCUBOOT_PRIMARY_SIZE --pad-header, input app_to_sign.bin
    assert (app.slot_size, app.header_size, app.pad_header, app.align) == (0x74000, 0x200, True, 4)
    assert app.version == "1.2.0+0" and app.image_number == 0
    assert app.input_path.name == "app_to_sign.bin"
    assert app.slot_addr == 0xC000 and app.load_address == 0xC200
    assert app.outputs["encrypted_bin"].name == "app_update.encrypted.bin"
    assert app.extra_args == ()  # "-E KEY" is taken out and becomes the encryption key
    assert plan.netcore_update and plan.nrf5340 and plan.b0n_present
    net = plan.netcore
    assert net is not None and not net.encrypt and net.image_number == 1
    assert net.reuse_path is not None and net.reuse_path.name == "net_core_app_update.bin"
    assert plan.encryption_key is not None
    assert plan.encryption_key.source == "CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS (-E)"
    assert plan.encryption_key.path == workspace / "mcuseal/samples/keys/sample-enc-ec256-priv.pem"
    assert plan.signature_key is not None
    assert plan.signature_key.source == "MCUboot CONFIG_BOOT_SIGNATURE_KEY_FILE"
    assert plan.mcuboot.scheme == "ecies-p256" and plan.mcuboot.nrf53_multi_image
    assert plan.mcuboot.mode is UpgradeMode.OVERWRITE_ONLY
    assert plan.dfu_zip == build.build_dir / "zephyr" / "dfu_application.zip"


def test_ncs_v1_without_netcore(sample: Sample) -> None:
    plan = make_plan(read_build(sample(SAMPLE_A2)))
    assert not plan.netcore_update and not plan.b0n_present and plan.netcore is None
    assert plan.mcuboot.mode is UpgradeMode.SWAP_MOVE and plan.mcuboot.updateable_images == 1


def test_ncs_v1_key_paths_resolve_against_mcuboot_conf_dir(sample: Sample, tmp_path: Path) -> None:
    root = sample(SAMPLE_A2)
    conf = tmp_path / "app" / "child_image"
    conf.mkdir(parents=True)
    (conf / "my-key.pem").write_bytes(
        (root / "../../mcuseal/samples/keys/sample-sign-ec-p256.pem").resolve().read_bytes()
    )
    (root / "mcuboot" / "CMakeCache.txt").write_text(f"CONF_FILE:INTERNAL={conf}/mcuboot.conf\n")
    set_config(root / "mcuboot" / "zephyr" / ".config", CONFIG_BOOT_SIGNATURE_KEY_FILE="my-key.pem")
    plan = make_plan(read_build(root))
    assert plan.signature_key is not None and plan.signature_key.path == conf / "my-key.pem"


def test_ncs_sysbuild_simultaneous(sample: Sample) -> None:
    build = read_build(sample(SAMPLE_B))
    assert build.flavour is Flavour.NCS_SYSBUILD
    assert build.app.name == "peripheral_lbs" and build.mcuboot is not None
    assert build.netcore is not None and build.netcore.name == "ipc_radio"  # not b0n
    plan = make_plan(build)
    app = plan.app
    # image_signing.cmake with PM: --align <write-block-size> --slot-size PM_MCUBOOT_PRIMARY_SIZE
    # --pad-header --header-size PM_MCUBOOT_PAD_SIZE
    assert (app.slot_size, app.header_size, app.pad_header, app.align) == (0xE0000, 0x200, True, 4)
    assert app.version == "1.2.3+4" and app.input_path.name == "zephyr.bin"
    assert app.outputs["encrypted_bin"] == build.app.zephyr_dir / "zephyr.signed.encrypted.bin"
    net = plan.netcore
    assert net is not None and net.reuse_path is not None
    assert net.reuse_path.name == "signed_by_mcuboot_and_b0_ipc_radio.bin"
    # b0_mcuboot_signing.cmake: --align 4 --pad-header --header-size SB_CONFIG_PM_MCUBOOT_PAD
    # --slot-size PM_MCUBOOT_PRIMARY_1_SIZE --version SB_CONFIG_SECURE_BOOT_MCUBOOT_VERSION
    assert (net.slot_size, net.header_size, net.align, net.version) == (0x40000, 0x200, 4, "1")
    assert net.load_address == 0x1008800
    assert plan.secondary_external is True
    assert plan.encryption_key is not None
    assert plan.encryption_key.source == "SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE"
    assert [k.source for k in plan.encryption_key_candidates] == [
        "SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE",
        "CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE",
        "MCUboot CONFIG_BOOT_ENCRYPTION_KEY_FILE",
    ]
    assert plan.merged_hex == build.build_dir / "merged.hex"


def test_zephyr_sysbuild_uses_secondary_slot_size(sample: Sample) -> None:
    build = read_build(sample(SAMPLE_D))
    assert build.flavour is Flavour.ZEPHYR_SYSBUILD and build.version.zephyr == (4, 1, 0)
    app = make_plan(build).app
    # cmake/mcuboot.cmake: slot1_partition size, --header-size CONFIG_ROM_START_OFFSET
    assert (app.slot_size, app.header_size, app.pad_header) == (0x75000, 0x200, False)
    assert app.slot_addr == 0xC000 and app.align == 4


def test_zephyr_overwrite_only_ram_load_and_single_app(sample: Sample) -> None:
    # cmake/mcuboot.cmake keys these on the application's Kconfig, not MCUboot's.
    root = sample(SAMPLE_D)
    app_cfg = root / "hello_world" / "zephyr" / ".config"
    set_config(app_cfg, CONFIG_MCUBOOT_IMGTOOL_OVERWRITE_ONLY=True)
    app = make_plan(read_build(root)).app
    assert (app.align, app.overwrite_only) == (1, True)
    assert "--overwrite-only" in app.imgtool_args()
    set_config(app_cfg, CONFIG_MCUBOOT_IMGTOOL_OVERWRITE_ONLY=None)
    set_config(app_cfg, CONFIG_MCUBOOT_BOOTLOADER_MODE_RAM_LOAD=True)
    app = make_plan(read_build(root)).app
    assert (app.align, app.ram_load_addr) == (1, 0x20000000)
    set_config(app_cfg, CONFIG_MCUBOOT_BOOTLOADER_MODE_RAM_LOAD=None)
    set_config(app_cfg, CONFIG_MCUBOOT_BOOTLOADER_MODE_SINGLE_APP=True)
    assert make_plan(read_build(root)).app.slot_size == 0x77000


def test_ncs_nrf54l_ed25519_x25519(sample: Sample) -> None:
    plan = make_plan(read_build(sample(SAMPLE_E)))
    app = plan.app
    assert (app.align, app.header_size, app.slot_size) == (16, 0x800, 0xB8000)
    assert app.sha == 512 and app.hmac_sha == 512
    assert plan.mcuboot.scheme == "ecies-x25519" and plan.mcuboot.signature_type == "ed25519"


def test_ncs_sysbuild_without_partition_manager_uses_primary_slot(sample: Sample) -> None:
    root = sample(SAMPLE_D)
    set_config(root / "zephyr" / ".config", SB_CONFIG_PARTITION_MANAGER=False)
    build = read_build(root)
    assert build.flavour is Flavour.NCS_SYSBUILD and build.pm is None
    assert make_plan(build).app.slot_size == 0x77000


def test_plain_zephyr_single_image(sample: Sample) -> None:
    root = sample(SAMPLE_D) / "hello_world"
    build = read_build(root)
    assert build.flavour is Flavour.ZEPHYR and build.mcuboot is None
    plan = make_plan(build)
    assert not plan.mcuboot.present and plan.mcuboot.mode is UpgradeMode.SWAP_MOVE
    assert plan.encryption_key is not None
    assert plan.encryption_key.source == "CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE"


def test_domains_yaml_is_optional(sample: Sample) -> None:
    root = sample(SAMPLE_B)
    (root / "domains.yaml").unlink()
    build = read_build(root)
    assert build.app.name == "peripheral_lbs" and build.netcore is not None


def test_missing_optional_files_fall_back_to_sdk_defaults(sample: Sample) -> None:
    root = sample(SAMPLE_B)
    (root / "peripheral_lbs" / "zephyr" / "zephyr.dts").unlink()
    (root / "pm_CPUNET.config").unlink()
    plan = make_plan(read_build(root))
    assert plan.app.align == 4
    assert any("align uses the SDK default 4" in n for n in plan.notes)
    net = plan.netcore
    assert net is not None and net.load_address == 0x1008800  # PM_CPUNET_APP_ADDRESS


def test_explicit_keys_win(sample: Sample, tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    plan = make_plan(read_build(sample(SAMPLE_D)), encryption_key=key, signature_key=key)
    assert plan.encryption_key is not None and plan.encryption_key.source == "--encrypt"
    assert plan.signature_key is not None and plan.signature_key.source == "-k"


def test_relative_key_without_workspace_is_noted(tmp_path: Path) -> None:
    import shutil

    from .conftest import SAMPLES

    root = tmp_path / "build"
    shutil.copytree(SAMPLES / SAMPLE_D / "build", root)
    plan = make_plan(read_build(root))
    assert find_topdir(root) is None
    assert plan.encryption_key is None
    assert any("west workspace is unknown" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("break_it", "match"),
    [
        (lambda r: (r / "zephyr" / ".config").unlink(), "not a Zephyr build directory"),
        (lambda r: (r / "pm.config").unlink(), "pm.config is missing"),
        (
            lambda r: (r / "peripheral_lbs" / "zephyr" / "zephyr.bin").unlink(),
            "zephyr.bin is missing",
        ),
        (lambda r: (r / "domains.yaml").write_text("domains: 3\n"), "no 'domains' list"),
        (lambda r: (r / "domains.yaml").write_text("[unclosed\n"), "cannot read"),
        (lambda r: (r / "domains.yaml").write_text("- a\n"), "not a YAML mapping"),
        (
            lambda r: (r / "mcuboot" / "zephyr" / ".config").write_text("junk here\n"),
            "not a Kconfig line",
        ),
        (
            lambda r: set_config(r / "pm.config", PM_MCUBOOT_PAD_SIZE=None),
            "has no PM_MCUBOOT_PAD_SIZE",
        ),
        (
            lambda r: set_config(
                r / "peripheral_lbs/zephyr/.config", CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS="-E 'x"
            ),
            "unbalanced",
        ),
    ],
)
def test_broken_sysbuild_dirs(
    sample: Sample, break_it: Callable[[Path], object], match: str
) -> None:
    root = sample(SAMPLE_B)
    break_it(root)
    with pytest.raises(BuildError, match=match):
        make_plan(read_build(root))


def test_child_image_requires_app_to_sign(sample: Sample) -> None:
    root = sample(SAMPLE_A2)
    (root / "zephyr" / "app_to_sign.bin").unlink()
    with pytest.raises(BuildError, match=r"app_to_sign\.bin"):
        make_plan(read_build(root))


def test_not_a_directory_and_not_mcuboot(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="does not exist"):
        read_build(tmp_path / "nope")
    (tmp_path / "zephyr").mkdir()
    (tmp_path / "zephyr" / ".config").write_text('CONFIG_BOARD="x"\n')
    with pytest.raises(BuildError, match="CONFIG_BOOTLOADER_MCUBOOT"):
        read_build(tmp_path)


@pytest.mark.parametrize("name", [SAMPLE_A, SAMPLE_A2, SAMPLE_B, SAMPLE_C, SAMPLE_D, SAMPLE_E])
def test_plan_json_is_serialisable(sample: Sample, name: str) -> None:
    import json

    doc = make_plan(read_build(sample(name))).to_json()
    assert json.loads(json.dumps(doc))["images"][0]["role"] == "app"


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    doc=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=6),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_domains_yaml_of_any_shape_reads_or_raises_build_error(tmp_path: Path, doc: object) -> None:
    import yaml

    from mcuseal.build.reader import _read_domains

    (tmp_path / "domains.yaml").write_text(yaml.safe_dump(doc))
    try:
        domains = _read_domains(tmp_path)
    except BuildError:
        return
    assert all(isinstance(name, str) for name, _ in domains)


def test_external_secondary_from_partitions_yml(sample: Sample) -> None:
    root = sample(SAMPLE_C)
    set_config(root / "zephyr" / ".config", SB_CONFIG_PM_EXTERNAL_FLASH_MCUBOOT_SECONDARY=None)
    assert make_plan(read_build(root)).secondary_external is None
    (root / "partitions.yml").write_text(
        "mcuboot_secondary:\n  address: 0x0\n  device: MX25R64\n  region: external_flash\n"
        "  size: 0x78000\n"
    )
    assert make_plan(read_build(root)).secondary_external is True
    (root / "partitions.yml").write_text("[broken\n")
    assert make_plan(read_build(root)).secondary_external is None
