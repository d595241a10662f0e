"""End to end on the samples: outputs verified with ``mcuseal verify``, decrypted, zip rules."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mcuseal.cli import main
from mcuseal.image import EncryptionState, ParsedImage, decrypt_image, verify_image
from mcuseal.image.hexfile import load_hex
from mcuseal.keys import fingerprint, load_device_key, load_key_or_kek, load_public_key
from mcuseal.keys.devkeys import SAMPLE_KEY_FINGERPRINTS

from .conftest import (
    KEYS,
    SAMPLE_A,
    SAMPLE_A2,
    SAMPLE_B,
    SAMPLE_C,
    SAMPLE_D,
    SAMPLE_E,
    set_config,
    snapshot,
)

Sample = Callable[[str], Path]

EC_KEYS = ("sample-sign-ec-p256.pem", "sample-enc-ec256-priv.pem")
ED_KEYS = ("sample-sign-ed25519.pem", "sample-enc-x25519-priv.pem")

# name -> (app dir, dfu output, factory output, input, key pair, slot size)
CASES = {
    SAMPLE_A2: (
        "",
        "zephyr/app_update.encrypted.bin",
        "zephyr/app_signed.factory.hex",
        "zephyr/app_to_sign.bin",
        EC_KEYS,
        0x74000,
    ),
    SAMPLE_B: (
        "peripheral_lbs",
        "zephyr/zephyr.signed.encrypted.bin",
        "zephyr/zephyr.signed.hex",
        "zephyr/zephyr.bin",
        EC_KEYS,
        0xE0000,
    ),
    SAMPLE_D: (
        "hello_world",
        "zephyr/zephyr.signed.encrypted.bin",
        "zephyr/zephyr.signed.hex",
        "zephyr/zephyr.bin",
        EC_KEYS,
        0x75000,
    ),
    SAMPLE_E: (
        "mcuboot_with_encryption",
        "zephyr/zephyr.signed.encrypted.bin",
        "zephyr/zephyr.signed.hex",
        "zephyr/zephyr.bin",
        ED_KEYS,
        0xB8000,
    ),
}


def seal(root: Path, *extra: str) -> int:
    return main(["seal", "-d", str(root), "--encrypt", "--allow-dev-keys", *extra])


@pytest.mark.parametrize("name", sorted(CASES))
def test_dfu_image_verifies_and_decrypts_to_the_input(
    sample: Sample, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app_dir, dfu_rel, _, input_rel, (sign_key, enc_key), slot_size = CASES[name]
    root = sample(name)
    app = root / app_dir if app_dir else root
    assert seal(root) == 0, capsys.readouterr().err
    dfu = app / dfu_rel
    rc = main(
        [
            "verify",
            str(dfu),
            "-k",
            str(KEYS / sign_key),
            "-E",
            str(KEYS / enc_key),
            "-S",
            hex(slot_size),
            "--require-encrypted",
            "--strict",
        ]
    )
    assert rc == 0, capsys.readouterr().out
    plain = decrypt_image(dfu.read_bytes(), load_device_key(KEYS / enc_key)).payload
    data = (app / input_rel).read_bytes()
    if name == SAMPLE_D:
        data = data[0x200:]  # Zephyr links the header gap into zephyr.bin (no --pad-header)
    assert plain[: len(data)] == data and not any(plain[len(data) :])


@pytest.mark.parametrize("name", [SAMPLE_A2, SAMPLE_D])
def test_factory_image_is_clear_and_verifies_in_the_primary_slot(
    sample: Sample, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app_dir, _, factory_rel, input_rel, (sign_key, _enc), _ = CASES[name]
    root = sample(name)
    app = root / app_dir if app_dir else root
    if name == SAMPLE_D:
        # A plain signed hex (Zephyr < 4.1 made it without --clear): mcuseal remakes it.
        (app / factory_rel).write_text((app / "zephyr" / "zephyr.hex").read_text())
    assert seal(root) == 0
    assert (
        main(["verify", str(app / factory_rel), "-k", str(KEYS / sign_key), "--slot", "primary"])
        == 0
    )
    _, image = load_hex(app / factory_rel)
    report = verify_image(image, trusted_keys=[load_public_key(KEYS / sign_key)], slot="primary")
    assert report.accepted and report.encryption is EncryptionState.CLEAR
    # The peer's own check of the (plaintext) factory image.
    as_bin = root.parent / "factory.bin"
    as_bin.write_bytes(image)
    verify = ["verify", "-k", str(KEYS / sign_key), str(as_bin)]
    imgtool = subprocess.run(
        [sys.executable, "-c", "from imgtool.main import imgtool; imgtool()", *verify],
        capture_output=True,
        text=True,
    )
    assert imgtool.returncode == 0 and "correctly validated" in imgtool.stdout, imgtool.stderr
    parsed = ParsedImage.loads(image)
    data = (app / input_rel).read_bytes()
    if name == SAMPLE_D:
        data = data[0x200:]
    start = parsed.header.hdr_size
    assert image[start : start + len(data)] == data
    capsys.readouterr()


def test_sysbuild_nrf5340_outputs_zip_and_untouched_sdk_files(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(SAMPLE_B)
    app = root / "peripheral_lbs" / "zephyr"
    untouched = [
        root / "signed_by_mcuboot_and_b0_ipc_radio.bin",
        app / "zephyr.signed.bin",
        app / "zephyr.signed.hex",  # the SDK made it with --encrypt --clear already
        root / "merged.hex",
        root / "merged_CPUNET.hex",
    ]
    before = {p: p.read_bytes() for p in untouched}
    old_manifest = json.loads((root / "dfu_application.zip_manifest.json").read_text())
    assert main(["seal", "-d", str(root), "--encrypt", "--allow-dev-keys", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["flash"] == str(root / "merged.hex")
    assert {p: p.read_bytes() for p in untouched} == before
    manifest = json.loads((root / "dfu_application.zip_manifest.json").read_text())
    assert manifest["format-version"] == 1 and manifest["name"] == "peripheral_lbs"
    assert manifest["time"] == old_manifest["time"]
    new_app, new_net = manifest["files"]
    old_app, old_net = old_manifest["files"]
    assert new_net == old_net
    assert set(new_app) == set(old_app)
    for key in set(old_app) - {"size", "file", "modtime"}:
        assert new_app[key] == old_app[key]
    assert new_app["image_index"] == "0" and isinstance(new_app["load_address"], int)
    assert new_app["file"] == "peripheral_lbs.signed.encrypted.bin"
    dfu = (app / "zephyr.signed.encrypted.bin").read_bytes()
    assert new_app["size"] == len(dfu) and new_app["modtime"] >= old_app["modtime"]
    with zipfile.ZipFile(root / "dfu_application.zip") as zf:
        assert zf.read("peripheral_lbs.signed.encrypted.bin") == dfu
        assert zf.read("ipc_radio.bin") == before[root / "signed_by_mcuboot_and_b0_ipc_radio.bin"]
        assert json.loads(zf.read("manifest.json")) == manifest
        assert sorted(zf.namelist()) == sorted(
            ["peripheral_lbs.signed.encrypted.bin", "ipc_radio.bin", "manifest.json"]
        )


def test_zip_with_extra_files_keys_and_no_modtime(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(SAMPLE_B)
    zpath = root / "dfu_application.zip"
    with zipfile.ZipFile(zpath) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members.pop("manifest.json"))
    # Keys in another order, a key generate_zip.py never writes, entries without modtime.
    reordered = {"name": manifest["name"], "files": manifest["files"], "x-vendor": {"a": [1]}}
    reordered |= {"format-version": manifest["format-version"], "time": manifest["time"]}
    for entry in reordered["files"]:
        del entry["modtime"]
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("README.txt", "release notes")
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("manifest.json", json.dumps(reordered))
    (root / "dfu_application.zip_manifest.json").write_text(json.dumps(reordered, indent=4))
    assert seal(root) == 0
    capsys.readouterr()
    new = json.loads((root / "dfu_application.zip_manifest.json").read_text())
    assert list(new) == list(reordered) and new["x-vendor"] == {"a": [1]}
    assert all("modtime" not in e for e in new["files"])
    assert new["files"][1] == reordered["files"][1]
    with zipfile.ZipFile(zpath) as zf:
        assert zf.read("README.txt") == b"release notes"
        assert json.loads(zf.read("manifest.json")) == new


def test_ncs_v1_zip_keeps_format_version_0_and_writes_merged_factory(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(SAMPLE_A2)
    sdk = {
        p: p.read_bytes()
        for p in (root / "zephyr" / "app_update.bin", root / "zephyr" / "merged.hex")
    }
    assert seal(root) == 0
    out = capsys.readouterr().out
    assert "in place with the encrypted application image" in out
    assert "merged.factory.hex" in out
    assert {p: p.read_bytes() for p in sdk} == sdk
    manifest = json.loads((root / "zephyr" / "dfu_application.zip_manifest.json").read_text())
    assert manifest["format-version"] == 0
    (entry,) = manifest["files"]
    assert "image_index" not in entry and entry["load_address"] == 0xC200
    assert entry["file"] == "app_update.encrypted.bin"
    merged = root / "zephyr" / "merged.factory.hex"
    base, data = load_hex(merged)
    factory_base, factory = load_hex(root / "zephyr" / "app_signed.factory.hex")
    offset = factory_base - base
    assert data[offset : offset + len(factory)] == factory
    mcuboot_base, mcuboot = load_hex(root / "mcuboot" / "zephyr" / "zephyr.hex")
    assert data[mcuboot_base - base : mcuboot_base - base + len(mcuboot)] == mcuboot


@pytest.mark.parametrize("name", [SAMPLE_A, SAMPLE_C])
def test_refused_samples_write_nothing_then_force_proceeds(
    sample: Sample, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(name)
    before = snapshot(root)
    assert seal(root) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refused: nRF5340 network-core update") and "--force" in err
    assert snapshot(root) == before
    assert seal(root, "--force") == 0
    assert "nrf5340-reset-vector" in capsys.readouterr().err
    net = root / (
        "zephyr/net_core_app_update.bin"
        if name == SAMPLE_A
        else "signed_by_mcuboot_and_b0_ipc_radio.bin"
    )
    assert net.read_bytes() == before[str(net.relative_to(root))][1]


def test_dev_keys_are_refused_without_allow(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(SAMPLE_D)
    before = snapshot(root)
    assert main(["seal", "-d", str(root), "--encrypt"]) == 2
    assert "published mcuseal sample key" in capsys.readouterr().err
    assert snapshot(root) == before


def test_sample_key_fingerprints_match_the_files() -> None:
    computed = {fingerprint(load_key_or_kek(p)): p.name for p in sorted(KEYS.glob("*.pem"))}
    assert {f: n.rsplit("/", 1)[-1] for f, n in SAMPLE_KEY_FINGERPRINTS.items()} == computed


def test_encrypt_netcore_experimental(sample: Sample, capsys: pytest.CaptureFixture[str]) -> None:
    root = sample(SAMPLE_B)
    assert seal(root, "--encrypt-netcore") == 0
    assert "EXPERIMENTAL" in capsys.readouterr().err
    net = root / "signed_by_mcuboot_and_b0_ipc_radio.encrypted.bin"
    plain = decrypt_image(net.read_bytes(), load_device_key(KEYS / EC_KEYS[1])).payload
    data = (root / "signed_by_b0_ipc_radio.bin").read_bytes()
    assert plain[: len(data)] == data
    manifest = json.loads((root / "dfu_application.zip_manifest.json").read_text())
    assert manifest["files"][1]["file"] == "ipc_radio.encrypted.bin"


def test_extra_imgtool_args_after_double_dash(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(SAMPLE_D)
    assert seal(root, "--", "--security-counter", "7") == 0
    parsed = ParsedImage.loads(
        (root / "hello_world/zephyr/zephyr.signed.encrypted.bin").read_bytes()
    )
    assert any(t.type == 0x50 for t in parsed.protected_tlvs)
    assert seal(root, "--", "--slot-size", "0x1000") == 2
    assert "takes from the build configuration" in capsys.readouterr().err


def test_header_load_address_routing_signs_with_rom_fixed(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:

    root = sample(SAMPLE_C)
    set_config(root / "mcuboot/zephyr/.config", CONFIG_MCUBOOT_CHECK_HEADER_LOAD_ADDRESS=True)
    assert seal(root) == 0, capsys.readouterr().err
    dfu = root / "peripheral_lbs/zephyr/zephyr.signed.encrypted.bin"
    header = ParsedImage.loads(dfu.read_bytes()).header
    assert header.load_addr == 0x10000  # PM_MCUBOOT_PRIMARY_ADDRESS
    assert header.flags & 0x100  # IMAGE_F_ROM_FIXED


def test_tfm_merged_hex_is_the_input(sample: Sample, capsys: pytest.CaptureFixture[str]) -> None:
    from mcuseal.image.hexfile import dump_hex

    root = sample(SAMPLE_E)
    app = root / "mcuboot_with_encryption" / "zephyr"
    set_config(app / ".config", CONFIG_BUILD_WITH_TFM=True)
    tfm = bytes(range(256)) * 8
    (app / "tfm_merged.hex").write_text(dump_hex(tfm, 0xC800))
    assert seal(root) == 0, capsys.readouterr().err
    dfu = (app / "zephyr.signed.encrypted.bin").read_bytes()
    plain = decrypt_image(dfu, load_device_key(KEYS / ED_KEYS[1])).payload
    assert plain[: len(tfm)] == tfm


def test_uuid_routing_signs_with_vid_and_cid(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:

    root = sample(SAMPLE_C)
    set_config(root / "mcuboot/zephyr/.config", CONFIG_MCUBOOT_UUID_CID=True)
    set_config(
        root / "peripheral_lbs/zephyr/.config",
        CONFIG_MCUBOOT_IMGTOOL_UUID_VID=True,
        CONFIG_MCUBOOT_IMGTOOL_UUID_VID_NAME="nordicsemi.com",
        CONFIG_MCUBOOT_IMGTOOL_UUID_CID=True,
        CONFIG_MCUBOOT_IMGTOOL_UUID_CID_NAME="peripheral_lbs",
    )
    assert seal(root) == 0, capsys.readouterr().err
    parsed = ParsedImage.loads(
        (root / "peripheral_lbs/zephyr/zephyr.signed.encrypted.bin").read_bytes()
    )
    assert {0x74, 0x75} <= {t.type for t in parsed.protected_tlvs}  # UUID_VID, UUID_CID


def test_pure_ed25519_is_a_clean_refusal(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    # USES_SHA512 stays set beside PURE (the SDK then passes --pure alone); the image core
    # refuses a pure signature over ciphertext: one line, exit 2, nothing written.
    root = sample(SAMPLE_E)
    config = root / "mcuboot_with_encryption" / "zephyr" / ".config"
    set_config(config, CONFIG_MCUBOOT_BOOTLOADER_SIGNATURE_TYPE_PURE=True)
    before = snapshot(root)
    assert seal(root) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--pure cannot be combined with -E" in errors[0]
    assert snapshot(root) == before


def test_each_key_warning_is_printed_once(
    sample: Sample, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(SAMPLE_D)
    keys = workspace / "keys"
    keys.mkdir()
    for name in ("sample-sign-ec-p256.pem", "sample-enc-ec256-priv.pem"):
        (keys / name).write_bytes((KEYS / name).read_bytes())
        (keys / name).chmod(0o644)
    argv = ["-k", str(keys / "sample-sign-ec-p256.pem")]
    assert seal(root, *argv) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings and len(warnings) == len(set(warnings)), warnings
    assert sum("DEVELOPMENT KEY" in w for w in warnings) == 2
    # A published key has no secrecy to lose: no file-mode warning on top.
    assert not any("readable by group/others" in w for w in warnings)


def test_relative_and_symlinked_build_dirs(
    sample: Sample,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = sample(SAMPLE_B)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "b").symlink_to(root)
    monkeypatch.chdir(outside)
    dfu = root / "peripheral_lbs" / "zephyr" / "zephyr.signed.encrypted.bin"
    sdk_made = dfu.read_bytes()
    # A link outside the workspace still finds the workspace (relative key paths) through
    # the real directory, and the outputs land there.
    assert main(["seal", "-d", "b", "--encrypt", "--allow-dev-keys", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert dfu.read_bytes() != sdk_made and (outside / "b").is_symlink()
    assert any(Path(o["path"]).resolve() == dfu for o in result["outputs"])


def test_seal_prints_the_plan_notes(sample: Sample, capsys: pytest.CaptureFixture[str]) -> None:
    root = sample(SAMPLE_B)
    (root / "peripheral_lbs" / "zephyr" / "zephyr.dts").unlink()
    assert main(["seal", "-d", str(root / "peripheral_lbs"), "--encrypt", "--allow-dev-keys"]) == 0
    out = capsys.readouterr().out
    assert "note: " in out and "one image of the sysbuild build" in out
    assert "align uses the SDK default 4" in out
