"""Preflight verdicts: samples (a) and (c) refused, the rest pass; each finding explains itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519

from mcuseal.build.plan import make_plan
from mcuseal.build.preflight import Severity, run_preflight
from mcuseal.build.reader import read_build
from mcuseal.errors import PreflightError

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


def codes(root: Path, **kwargs: object) -> dict[str, Severity]:
    plan = make_plan(read_build(root), **kwargs)  # type: ignore[arg-type]
    return {f.code: f.severity for f in run_preflight(plan).findings}


def messages(root: Path) -> dict[str, str]:
    return {f.code: f.message for f in run_preflight(make_plan(read_build(root))).findings}


def write_key(path: Path, key: object) -> Path:
    pem = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    return path


@pytest.mark.parametrize("name", [SAMPLE_A2, SAMPLE_B, SAMPLE_D, SAMPLE_E])
def test_good_samples_pass(sample: Sample, name: str) -> None:
    report = run_preflight(make_plan(read_build(sample(name))))
    assert report.ok, [f.message for f in report.errors]


def test_sample_a_ncs17_is_refused_even_in_simultaneous_mode(sample: Sample) -> None:
    msg = messages(sample(SAMPLE_A))["nrf5340-reset-vector"]
    assert "reset vector at ih_hdr_size+4" in msg and "PM_CPUNET_B0N_ADDRESS" in msg
    assert "NCS 1.7.1" in msg and "v1.9.99-ncs4" in msg and "NCS 2.3" in msg
    assert "CONFIG_NRF53_UPGRADE_NETWORK_CORE=n" in msg


def test_sample_c_is_refused_without_simultaneous_update(sample: Sample) -> None:
    root = sample(SAMPLE_C)
    msg = messages(root)["nrf5340-reset-vector"]
    assert "not in simultaneous multi-image mode" in msg
    assert "SB_CONFIG_MCUBOOT_NRF53_MULTI_IMAGE_UPDATE=y" in msg
    assert "CONFIG_MCUBOOT_CHECK_HEADER_LOAD_ADDRESS=y" in msg
    report = run_preflight(make_plan(read_build(root)))
    with pytest.raises(PreflightError, match="refused: nRF5340") as info:
        report.raise_for_errors()
    assert info.value.exit_code == 1
    demoted = report.raise_for_errors(force=True)
    assert any(f.code == "nrf5340-reset-vector" for f in demoted)


def test_header_load_address_check_makes_it_safe(sample: Sample) -> None:
    root = sample(SAMPLE_C)
    set_config(
        root / "mcuboot" / "zephyr" / ".config", CONFIG_MCUBOOT_CHECK_HEADER_LOAD_ADDRESS=True
    )
    assert codes(root)["nrf5340-reset-vector"] is Severity.INFO


@pytest.mark.parametrize(
    ("ncs", "zephyr", "verdict"),
    [
        ("2.2.0", "3.2.99", Severity.ERROR),
        ("2.3.0", "3.2.99", Severity.INFO),
        (None, "3.1.99", Severity.ERROR),
        (None, "3.2.99", Severity.ERROR),  # NCS 2.2 and 2.3 share it: cannot tell
        (None, "3.3.99", Severity.INFO),
        (None, None, Severity.ERROR),
    ],
)
def test_child_image_version_boundary(
    sample: Sample, ncs: str | None, zephyr: str | None, verdict: Severity
) -> None:
    root = sample(SAMPLE_A)
    gen = root / "zephyr" / "include" / "generated"
    (gen / "ncs_version.h").unlink()
    (gen / "version.h").unlink()
    if ncs:
        (gen / "ncs_version.h").write_text(f'#define NCS_VERSION_STRING "{ncs}"\n')
    if zephyr:
        (gen / "version.h").write_text(f'#define KERNEL_VERSION_STRING "{zephyr}"\n')
    assert codes(root)["nrf5340-reset-vector"] is verdict


def test_mcuboot_without_encryption(sample: Sample) -> None:
    root = sample(SAMPLE_D)
    set_config(
        root / "mcuboot" / "zephyr" / ".config",
        CONFIG_BOOT_ENCRYPT_IMAGE=None,
        CONFIG_BOOT_ENCRYPT_EC256=None,
        CONFIG_BOOT_ENCRYPTION_KEY_FILE=None,
    )
    msg = messages(root)["mcuboot-no-encryption"]
    assert "SB_CONFIG_BOOT_ENCRYPTION=y" in msg and "reject" in msg


@pytest.mark.parametrize(
    ("option", "code", "severity"),
    [
        ("CONFIG_BOOT_DIRECT_XIP", "mode-no-encryption", Severity.ERROR),
        ("CONFIG_BOOT_FIRMWARE_LOADER", "mode-no-encryption", Severity.ERROR),
        ("CONFIG_BOOT_RAM_LOAD", "mode-ram-load", Severity.WARNING),
        ("CONFIG_BOOT_SIGNATURE_TYPE_NONE", "no-signature", Severity.ERROR),
    ],
)
def test_upgrade_modes(sample: Sample, option: str, code: str, severity: Severity) -> None:
    root = sample(SAMPLE_D)
    set_config(
        root / "mcuboot" / "zephyr" / ".config", CONFIG_BOOT_SWAP_USING_MOVE=None, **{option: True}
    )
    if option == "CONFIG_BOOT_SIGNATURE_TYPE_NONE":
        set_config(
            root / "mcuboot" / "zephyr" / ".config", CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256=None
        )
    assert codes(root)[code] is severity


def test_wrong_encryption_key_is_refused(sample: Sample, tmp_path: Path) -> None:
    root = sample(SAMPLE_D)
    other = write_key(tmp_path / "other.pem", ec.generate_private_key(ec.SECP256R1()))
    plan = make_plan(read_build(root), encryption_key=other)
    found = {f.code: f for f in run_preflight(plan).findings}
    assert found["encryption-key-mismatch"].severity is Severity.ERROR
    assert "CONFIG_BOOT_ENCRYPTION_KEY_FILE" in found["encryption-key-mismatch"].message


def test_key_type_must_match_scheme_and_signature(sample: Sample, tmp_path: Path) -> None:
    root = sample(SAMPLE_D)
    x = write_key(tmp_path / "x.pem", x25519.X25519PrivateKey.generate())
    found = codes(root, encryption_key=x)
    assert found["encryption-key-type"] is Severity.ERROR
    assert found["key-types-differ"] is Severity.ERROR


def test_rsa_3072_cannot_encrypt(sample: Sample, tmp_path: Path) -> None:
    root = sample(SAMPLE_D)
    set_config(
        root / "mcuboot" / "zephyr" / ".config",
        CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256=None,
        CONFIG_BOOT_SIGNATURE_TYPE_RSA=True,
        CONFIG_BOOT_ENCRYPT_EC256=None,
        CONFIG_BOOT_ENCRYPT_RSA=True,
        CONFIG_BOOT_ENCRYPTION_KEY_FILE=None,
    )
    big = write_key(tmp_path / "rsa.pem", rsa.generate_private_key(65537, 3072))
    assert codes(root, encryption_key=big)["encryption-key-type"] is Severity.ERROR


def test_aes_size_mismatch(sample: Sample) -> None:
    root = sample(SAMPLE_D)
    set_config(
        root / "hello_world" / "zephyr" / ".config", CONFIG_MCUBOOT_ENCRYPTION_ALG_AES_256=True
    )
    msg = messages(root)["aes-size-mismatch"]
    assert "AES-256" in msg and "AES-128" in msg and "SB_CONFIG_BOOT_ENCRYPTION_ALG_AES_256" in msg


def test_keys_c_warning_on_ncs_v1(sample: Sample) -> None:
    found = codes(sample(SAMPLE_A2))
    assert found["keys-c"] is Severity.WARNING
    assert found["extra-args-ignored"] is Severity.INFO


def test_external_flash_without_save_enctlv(sample: Sample) -> None:
    root = sample(SAMPLE_B)
    mcuboot_cfg = root / "mcuboot" / "zephyr" / ".config"
    set_config(mcuboot_cfg, CONFIG_BOOT_UPGRADE_ONLY=None, CONFIG_BOOT_SWAP_USING_MOVE=True)
    assert codes(root)["external-flash-no-enctlv"] is Severity.WARNING
    set_config(mcuboot_cfg, CONFIG_BOOT_SWAP_SAVE_ENCTLV=True)
    assert "external-flash-no-enctlv" not in codes(root)


def test_nsib_with_upgradable_mcuboot(sample: Sample) -> None:
    root = sample(SAMPLE_E)
    set_config(root / "pm.config", PM_S1_ADDRESS=0x20000)
    msg = messages(root)["nsib-reset-vector"]
    assert "PM_S1_ADDRESS" in msg and "SB_CONFIG_SECURE_BOOT_APPCORE=n" in msg


def test_disagreeing_key_sources(sample: Sample, tmp_path: Path) -> None:
    root = sample(SAMPLE_D)
    other = write_key(tmp_path / "other.pem", ec.generate_private_key(ec.SECP256R1()))
    set_config(
        root / "hello_world" / "zephyr" / ".config", CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE=str(other)
    )
    assert codes(root)["encryption-key-sources-disagree"] is Severity.WARNING


def test_missing_and_absent_keys(sample: Sample, tmp_path: Path) -> None:
    root = sample(SAMPLE_D)
    assert (
        codes(root, encryption_key=tmp_path / "none.pem")["encryption-key-missing"]
        is Severity.ERROR
    )
    set_config(root / "zephyr" / ".config", SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE=None)
    set_config(root / "hello_world" / "zephyr" / ".config", CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE=None)
    set_config(root / "mcuboot" / "zephyr" / ".config", CONFIG_BOOT_ENCRYPTION_KEY_FILE=None)
    assert codes(root)["no-encryption-key"] is Severity.ERROR


def test_encrypt_netcore_needs_simultaneous(sample: Sample) -> None:
    root_c = sample(SAMPLE_C)
    plan = make_plan(read_build(root_c), encrypt_netcore=True)
    found = {f.code: f.severity for f in run_preflight(plan, encrypt_netcore=True).findings}
    assert found["encrypt-netcore-needs-simultaneous"] is Severity.ERROR
    root_b = sample(SAMPLE_B)
    plan = make_plan(read_build(root_b), encrypt_netcore=True)
    assert plan.netcore is not None and plan.netcore.encrypt
    found = {f.code: f.severity for f in run_preflight(plan, encrypt_netcore=True).findings}
    assert found["encrypt-netcore-experimental"] is Severity.WARNING


def test_uuid_routing(sample: Sample) -> None:
    root = sample(SAMPLE_C)
    set_config(root / "mcuboot/zephyr/.config", CONFIG_MCUBOOT_UUID_CID=True)
    assert codes(root)["nrf5340-reset-vector"] is Severity.ERROR  # the app sets no CID
    set_config(
        root / "peripheral_lbs/zephyr/.config",
        CONFIG_MCUBOOT_IMGTOOL_UUID_VID=True,
        CONFIG_MCUBOOT_IMGTOOL_UUID_VID_NAME="nordicsemi.com",
        CONFIG_MCUBOOT_IMGTOOL_UUID_CID=True,
        CONFIG_MCUBOOT_IMGTOOL_UUID_CID_NAME="peripheral_lbs",
    )
    assert codes(root)["nrf5340-reset-vector"] is Severity.INFO
    app = make_plan(read_build(root)).app
    assert app.imgtool_args()[-4:] == ["--vid", "nordicsemi.com", "--cid", "peripheral_lbs"]


def test_app_and_mcuboot_modes_disagree(sample: Sample) -> None:
    root = sample(SAMPLE_D)
    assert "mode-mismatch" not in codes(root)
    set_config(
        root / "hello_world/zephyr/.config",
        CONFIG_MCUBOOT_BOOTLOADER_MODE_SWAP_USING_MOVE=None,
        CONFIG_MCUBOOT_BOOTLOADER_MODE_OVERWRITE_ONLY=True,
    )
    assert codes(root)["mode-mismatch"] is Severity.WARNING
