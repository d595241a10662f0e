"""Readers and plan geometry, per SDK flavour, against the generated samples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcuseal.build.plan import UpgradeMode, find_topdir, make_plan
from mcuseal.build.preflight import run_preflight
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


def test_ncs_v1_netcore_geometry(sample: Sample) -> None:
    # partition_manager.cmake: net_app_slot_size = PM_MCUBOOT_SECONDARY_1_SIZE in
    # simultaneous mode; sign_cmd's --align CONFIG_MCUBOOT_FLASH_WRITE_BLOCK_SIZE.
    root = sample(SAMPLE_A)
    set_config(root / "pm.config", PM_MCUBOOT_SECONDARY_1_SIZE=0x3F000)
    set_config(root / "zephyr" / ".config", CONFIG_MCUBOOT_FLASH_WRITE_BLOCK_SIZE=8)
    plan = make_plan(read_build(root), encrypt_netcore=True)
    net = plan.netcore
    assert net is not None and (net.slot_size, net.align) == (0x3F000, 8)
    assert plan.app.align == 8
    # Sysbuild (b0_mcuboot_signing.cmake): PM_MCUBOOT_PRIMARY_1_SIZE and --align 4.
    root = sample(SAMPLE_B)
    set_config(root / "pm.config", PM_MCUBOOT_SECONDARY_1_SIZE=0x3F000)
    net = make_plan(read_build(root), encrypt_netcore=True).netcore
    assert net is not None and (net.slot_size, net.align) == (0x40000, 4)


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
    import shutil

    # The application image on its own, as a build without sysbuild leaves it.
    sysbuild = sample(SAMPLE_D)
    root = sysbuild.parent / "plain"
    shutil.copytree(sysbuild / "hello_world", root)
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


def _add_domain(root: Path, name: str, config: str | None, *, first: bool = False) -> None:
    import yaml

    doc = yaml.safe_load((root / "domains.yaml").read_text())
    if config is not None:
        (root / name / "zephyr").mkdir(parents=True)
        (root / name / "zephyr" / ".config").write_text(config)
    entry = {"name": name, "build_dir": str(root / name)}
    doc["domains"].insert(0 if first else len(doc["domains"]), entry)
    (root / "domains.yaml").write_text(yaml.safe_dump(doc))


def test_extra_and_absent_images_in_domains_yaml(sample: Sample) -> None:
    root = sample(SAMPLE_B)
    _add_domain(root, "unrelated", "CONFIG_SOC_NRF5340_CPUAPP=y\nCONFIG_BOOTLOADER_MCUBOOT=y\n")
    _add_domain(root, "not_built", None)
    plan = make_plan(read_build(root))
    assert [i.name for i in plan.images] == ["peripheral_lbs", "ipc_radio"]
    assert any("'not_built'" in n and "ignored" in n for n in plan.notes)


def test_the_netcore_image_is_the_one_ncs_signs(sample: Sample) -> None:
    root = sample(SAMPLE_B)
    net_config = "CONFIG_SOC_NRF5340_CPUNET=y\nCONFIG_SOC_NRF5340_CPUNET_QKAA=y\n"
    _add_domain(root, "aaa_radio_test", net_config, first=True)

    def netcore_name() -> str | None:
        net = read_build(root).netcore
        return net.name if net is not None else None

    # signed_by_mcuboot_and_b0_ipc_radio.bin tells which one NCS signed ...
    assert netcore_name() == "ipc_radio"
    # ... and SB_CONFIG_NETCORE_IMAGE_NAME says it outright.
    set_config(root / "zephyr" / ".config", SB_CONFIG_NETCORE_IMAGE_NAME="aaa_radio_test")
    assert netcore_name() == "aaa_radio_test"


def test_missing_optional_files_fall_back_to_sdk_defaults(sample: Sample) -> None:
    root = sample(SAMPLE_B)
    (root / "peripheral_lbs" / "zephyr" / "zephyr.dts").unlink()
    (root / "pm_CPUNET.config").unlink()
    plan = make_plan(read_build(root))
    assert plan.app.align == 4
    assert any("align uses the SDK default 4" in n for n in plan.notes)
    net = plan.netcore
    # The network core's addresses live only in pm_CPUNET.config (pm.config is per domain).
    assert net is not None and net.load_address is None
    assert plan.netcore_update and not plan.b0n_present


def test_real_partition_manager_files(sample: Sample) -> None:
    """pm.config as partition_manager_output.py writes it: bare words, no final newline."""
    root = sample(SAMPLE_C)
    text = (root / "pm.config").read_text()
    assert "PM_MCUBOOT_NAME=mcuboot\n" in text and "PM_0_LABEL=MCUBOOT" in text
    assert not text.endswith("\n") and "PM_CPUNET_" not in text
    plan = make_plan(read_build(root))
    assert plan.app.slot_size == 0x78000 and plan.app.header_size == 0x200
    # b0n is known from pm_CPUNET.config's PM_B0N_ADDRESS, the net load address from PM_APP_ADDRESS.
    assert plan.b0n_present
    assert plan.netcore is not None and plan.netcore.load_address == 0x1008800
    assert not run_preflight(plan).ok


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
        default, domains = _read_domains(tmp_path)
    except BuildError:
        return
    assert all(isinstance(name, str) for name, _ in domains)
    assert default is None or isinstance(default, str)


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


def test_nrf54l_hash_options_follow_image_signing_cmake(sample: Sample) -> None:
    root = sample(SAMPLE_E)
    config = root / "mcuboot_with_encryption" / "zephyr" / ".config"
    plan = make_plan(read_build(root))
    assert (plan.app.sha, plan.app.pure, plan.app.hmac_sha) == (512, False, 512)
    # Pure Ed25519: --pure alone, never with --sha (imgtool refuses the pair).
    set_config(config, CONFIG_MCUBOOT_BOOTLOADER_SIGNATURE_TYPE_PURE=True)
    plan = make_plan(read_build(root))
    assert (plan.app.sha, plan.app.pure) == (None, True)
    assert "--sha" not in plan.app.imgtool_args()
    # NCS before CONFIG_MCUBOOT_BOOTLOADER_USES_SHA512: nRF54L + Ed25519 meant --sha 512.
    set_config(
        config,
        CONFIG_MCUBOOT_BOOTLOADER_SIGNATURE_TYPE_PURE=None,
        CONFIG_MCUBOOT_BOOTLOADER_USES_SHA512=None,
    )
    assert make_plan(read_build(root)).app.sha == 512


@pytest.mark.parametrize("name", [SAMPLE_A, SAMPLE_B, SAMPLE_D, SAMPLE_E])
def test_windows_line_endings_give_the_same_plan(sample: Sample, name: str) -> None:
    root = sample(name)
    plain = make_plan(read_build(root)).to_json()
    for path in [*root.rglob("*.config"), *root.rglob("*.yaml"), *root.rglob("*.dts")]:
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert make_plan(read_build(root)).to_json() == plain


def test_quoted_values_with_spaces(sample: Sample, workspace: Path) -> None:
    import shutil

    root = sample(SAMPLE_B)
    keys = workspace / "my keys"
    keys.mkdir()
    shutil.copy(workspace / "mcuseal/samples/keys/sample-enc-ec256-priv.pem", keys / "enc key.pem")
    set_config(root / "zephyr/.config", SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE="my keys/enc key.pem")
    set_config(
        root / "peripheral_lbs/zephyr/.config",
        CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS='--vid "acme corp" --pad-sig',
    )
    plan = make_plan(read_build(root))
    assert plan.encryption_key is not None
    assert plan.encryption_key.path == workspace / "my keys" / "enc key.pem"
    assert plan.app.extra_args == ("--vid", "acme corp", "--pad-sig")


def test_relative_keys_resolve_in_the_application_config_dir_first(
    sample: Sample, workspace: Path, tmp_path: Path
) -> None:
    # Zephyr's cmake/mcuboot.cmake and NCS's newer sysbuild signing try
    # APPLICATION_CONFIG_DIR (if the file is there) before the west top directory.
    import shutil

    root = sample(SAMPLE_D)
    app_dir = tmp_path / "app"
    (app_dir / "keys").mkdir(parents=True)
    enc = workspace / "mcuseal/samples/keys/sample-enc-ec256-priv.pem"
    shutil.copy(enc, app_dir / "keys" / "enc.pem")
    (root / "hello_world" / "CMakeCache.txt").write_text(
        f"APPLICATION_CONFIG_DIR:INTERNAL={app_dir}\n"
    )
    set_config(root / "zephyr" / ".config", SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE="keys/enc.pem")
    plan = make_plan(read_build(root))
    assert plan.encryption_key is not None
    assert plan.encryption_key.path == app_dir / "keys" / "enc.pem"
    # Not there: the west top directory, as before.
    set_config(
        root / "zephyr" / ".config",
        SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE="mcuseal/samples/keys/sample-enc-ec256-priv.pem",
    )
    plan = make_plan(read_build(root))
    assert plan.encryption_key is not None and plan.encryption_key.path == enc


def test_an_image_dir_of_a_sysbuild_build_reads_the_whole_build(sample: Sample) -> None:
    # Zephyr's old 'west sign' wanted -d build/<app>; that image alone would look like a
    # plain Zephyr build and get Zephyr's geometry instead of NCS's Partition Manager one.
    root = sample(SAMPLE_B)
    plan = make_plan(read_build(root / "peripheral_lbs"))
    assert plan.flavour is Flavour.NCS_SYSBUILD and plan.build.build_dir == root.resolve()
    assert plan.app.slot_size == 0xE0000 and plan.app.pad_header
    assert any("one image of the sysbuild build" in n for n in plan.notes)
