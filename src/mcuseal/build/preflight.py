"""Preflight checks: will MCUboot accept and route the encrypted image this plan makes?

Every finding names what is wrong, why it breaks the update, and the Kconfig option
that fixes it.  Errors are refusals (``--force`` turns them into warnings); nothing is
written before the preflight has passed.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcuseal.build._keyinfo import KeyInfo, load_key_info
from mcuseal.build.plan import McubootConfig, SealPlan, UpgradeMode
from mcuseal.build.reader import Flavour
from mcuseal.errors import KeyError_, PreflightError, UsageError

# sdk-mcuboot added "&& !defined(CONFIG_NRF53_MULTI_IMAGE_UPDATE)" around the reset-vector
# routing in tag v1.9.99-ncs4 (2023-02-27, NCS 2.3); v1.9.99-ncs3 (2022-12, NCS 2.2) and
# earlier run it in simultaneous mode too.
FIXED_NCS_VERSION = (2, 3, 0)
FIXED_MCUBOOT_TAG = "v1.9.99-ncs4"
# From sdk-mcuboot v2.0.99-ncs1 (2024-03, NCS 2.6) the routing also needs CONFIG_PCD_APP.
PCD_GUARD_NCS_VERSION = (2, 6, 0)
# Zephyr versions NCS shipped: < 3.2 only in NCS <= 2.1; 3.2.99 in NCS 2.2 and 2.3.
_ZEPHYR_ONLY_BEFORE_FIX = (3, 2, 0)
_ZEPHYR_ONLY_AFTER_FIX = (3, 3, 0)


_BAD_INPUT = frozenset({"no-encryption-key", "encryption-key-missing", "encrypt-netcore-no-image"})


class Severity(str, enum.Enum):
    ERROR = "error"  # a refusal: the update would fail on the device
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One preflight result: *code* is stable (for scripts); *message* is for people."""

    code: str
    severity: Severity
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity.value, "message": self.message}


@dataclass(frozen=True)
class PreflightReport:
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self, *, force: bool = False) -> list[Finding]:
        """Raise :class:`PreflightError` with the first refusal unless *force*.

        :returns: the findings to show as warnings (refusals demoted when *force*).
        """
        for finding in self.errors:
            if finding.code in _BAD_INPUT:
                # Not a property of the device: --force cannot make a missing key appear.
                raise UsageError(finding.message)
        if self.errors and not force:
            first = self.errors[0]
            more = (
                f" (and {len(self.errors) - 1} more; run 'mcuseal check')"
                if len(self.errors) > 1
                else ""
            )
            raise PreflightError(f"refused: {first.message}{more}; --force overrides")
        return [f for f in self.findings if f.severity is not Severity.INFO]

    def to_json(self) -> list[dict[str, str]]:
        return [f.to_json() for f in self.findings]


def _mcuboot_option(plan: SealPlan, option: str) -> str:
    """Where the user sets an MCUboot option for this flavour."""
    if plan.flavour is Flavour.NCS_CHILD_IMAGE:
        return f"{option} in child_image/mcuboot.conf"
    if plan.flavour.is_sysbuild:
        return f"{option} in sysbuild/mcuboot.conf"
    return f"{option} in MCUboot's configuration"


def run_preflight(
    plan: SealPlan,
    *,
    encrypt_netcore: bool = False,
    load_key: Any = load_key_info,
) -> PreflightReport:
    """Run every check on *plan* (reads key files; writes nothing)."""
    findings: list[Finding] = []
    add = findings.append
    mb = plan.mcuboot
    app = plan.app

    if not mb.present:
        add(
            Finding(
                "mcuboot-unknown",
                Severity.INFO,
                "MCUboot is not part of this build directory, so its encryption support, key "
                "and upgrade mode are not checked",
            )
        )
    elif not mb.encrypt:
        fix = (
            "SB_CONFIG_BOOT_ENCRYPTION=y"
            if plan.flavour.is_sysbuild
            else _mcuboot_option(
                plan,
                "CONFIG_BOOT_ENCRYPT_IMAGE=y "
                "(MCUboot < 2.0: CONFIG_BOOT_ENCRYPT_EC256/RSA/X25519=y)",
            )
        )
        add(
            Finding(
                "mcuboot-no-encryption",
                Severity.ERROR,
                f"MCUboot was built without encryption support ({mb.source} has no "
                "CONFIG_BOOT_ENCRYPT_IMAGE): it cannot decrypt the image and will reject the "
                f"update; set {fix}, rebuild and reflash MCUboot",
            )
        )

    _mode_checks(plan, add)
    # One key file is usually named by several sources (the chosen key, the configured
    # candidates, MCUboot's own): read and parse each once (a token read is slow).
    _key_checks(plan, add, functools.cache(load_key))
    _routing_checks(plan, add, encrypt_netcore)

    swapping = mb.mode in (UpgradeMode.SWAP_SCRATCH, UpgradeMode.SWAP_MOVE, UpgradeMode.SWAP_OFFSET)
    if plan.secondary_external and swapping and mb.encrypt and not mb.save_enctlv:
        add(
            Finding(
                "external-flash-no-enctlv",
                Severity.WARNING,
                "the secondary slot is in external flash and MCUboot saves the plain AES key "
                "in its trailer while swapping; set "
                + _mcuboot_option(plan, "CONFIG_BOOT_SWAP_SAVE_ENCTLV=y")
                + " so only the wrapped key ever leaves the chip",
            )
        )
    if mb.present and mb.encrypt and app.encrypt_keylen != mb.aes_bits:
        which = (
            "CONFIG_MCUBOOT_ENCRYPTION_ALG_AES_256"
            if app.encrypt_keylen == 256
            else "the AES-128 default"
        )
        add(
            Finding(
                "aes-size-mismatch",
                Severity.ERROR,
                f"the image would be encrypted with AES-{app.encrypt_keylen} ({which}) but MCUboot "
                f"was built for AES-{mb.aes_bits}: it cannot decrypt the key TLV and rejects the "
                "update; make them agree ("
                + (
                    "SB_CONFIG_BOOT_ENCRYPTION_ALG_AES_256"
                    if plan.flavour.is_sysbuild
                    else "CONFIG_BOOT_ENCRYPT_ALG_AES_256 in MCUboot and "
                    "CONFIG_MCUBOOT_ENCRYPTION_ALG_AES_256 in the app"
                )
                + ")",
            )
        )
    return PreflightReport(tuple(findings))


def _mode_checks(plan: SealPlan, add: Any) -> None:
    mb = plan.mcuboot
    mode = mb.mode
    app_mode = McubootConfig.from_config(None, plan.build.app.config).mode
    if mb.present and app_mode is not UpgradeMode.UNKNOWN and app_mode is not mode:
        add(
            Finding(
                "mode-mismatch",
                Severity.WARNING,
                f"the application was built for MCUboot's {app_mode.value} mode "
                f"(CONFIG_MCUBOOT_BOOTLOADER_MODE_*) but MCUboot runs {mode.value}; the SDK "
                "signs for the application's view (align, --overwrite-only, slot size), so "
                "make the two agree (SB_CONFIG_MCUBOOT_MODE_* with sysbuild)",
            )
        )
    if mode in (UpgradeMode.DIRECT_XIP, UpgradeMode.DIRECT_XIP_REVERT, UpgradeMode.FIRMWARE_LOADER):
        add(
            Finding(
                "mode-no-encryption",
                Severity.ERROR,
                f"MCUboot runs in {mode.value} mode, which executes or loads images in place and "
                "cannot take encrypted images (Zephyr's SUPPORT_BOOT_ENCRYPTION excludes it); "
                "choose a swap or overwrite mode (e.g. SB_CONFIG_MCUBOOT_MODE_SWAP_USING_MOVE=y"
                " / CONFIG_BOOT_SWAP_USING_MOVE=y in MCUboot)",
            )
        )
    elif mode is UpgradeMode.RAM_LOAD:
        add(
            Finding(
                "mode-ram-load",
                Severity.WARNING,
                "MCUboot runs in RAM-load mode: it decrypts while loading into RAM, so the "
                "encrypted image works, but check that nothing flashes the unencrypted image "
                "into the slot (Zephyr's RAM-load flashing once wrote it)",
            )
        )
    if mb.present and mb.signature_type == "none":
        add(
            Finding(
                "no-signature",
                Severity.ERROR,
                "MCUboot was built without signature verification "
                "(CONFIG_BOOT_SIGNATURE_TYPE_NONE): encrypted images need a signature type; set "
                + _mcuboot_option(plan, "CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256=y (or RSA/ED25519)"),
            )
        )


def _key_exists(path: Path) -> bool:
    """A key file that exists, or a key URI (``pkcs11:...``) a provider serves."""
    from mcuseal.keys.providers import uri_provider

    return path.is_file() or uri_provider(path) is not None


def _load(path: Path, load_key: Any) -> KeyInfo | None:
    try:
        info: KeyInfo = load_key(path)
    except KeyError_:
        return None
    return info


def _key_checks(plan: SealPlan, add: Any, load_key: Any) -> None:
    mb = plan.mcuboot
    enc = plan.encryption_key
    if enc is None:
        add(
            Finding(
                "no-encryption-key",
                Severity.ERROR,
                "no encryption key: pass --encrypt KEY, or configure one "
                "(SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE, CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE or "
                "CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE)",
            )
        )
        return
    if not _key_exists(enc.path):
        add(
            Finding(
                "encryption-key-missing",
                Severity.ERROR,
                f"encryption key {enc.path} (from {enc.source}) does not exist; fix the path "
                "(relative paths are relative to "
                + (
                    "MCUboot's configuration directory"
                    if plan.flavour is Flavour.NCS_CHILD_IMAGE and enc.source.startswith("MCUboot")
                    else "the west workspace top directory"
                )
                + ")",
            )
        )
        return
    ours: KeyInfo = load_key(enc.path)
    if plan.extra_args_encrypt_key is not None and plan.flavour is Flavour.NCS_CHILD_IMAGE:
        add(
            Finding(
                "extra-args-ignored",
                Severity.INFO,
                f"-E {plan.extra_args_encrypt_key.raw} found in CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS: "
                "NCS v1.x ignored it when it signed (no encrypted image was made); mcuseal "
                "uses it",
            )
        )
    if mb.present and mb.scheme is not None and ours.enc_scheme != mb.scheme:
        add(
            Finding(
                "encryption-key-type",
                Severity.ERROR,
                f"the encryption key {enc.path.name} is {ours.kind} but MCUboot decrypts with "
                f"{mb.scheme}: the key TLV will not unwrap and the update is rejected; use a "
                f"{_kind_for(mb.scheme)} key"
                + ("" if mb.scheme == "aes-kw" else " or change MCUboot's signature type"),
            )
        )
    sig_kind: KeyInfo | None = None
    if plan.signature_key is not None and _key_exists(plan.signature_key.path):
        sig_kind = _load(plan.signature_key.path, load_key)
        if sig_kind is not None and _pair_ok(sig_kind, ours) is False:
            add(
                Finding(
                    "key-types-differ",
                    Severity.ERROR,
                    f"signing key {plan.signature_key.path.name} is {sig_kind.kind} but the "
                    f"encryption key is {ours.kind}; MCUboot pairs RSA with RSA-OAEP, "
                    "ECDSA-P256 with ECIES-P256 and Ed25519 with X25519 (imgtool: 'Signing "
                    "and encryption must use the same type of key')",
                )
            )
    # Compare with MCUboot's own key and between configured sources.
    mcuboot_ref = next(
        (k for k in plan.encryption_key_candidates if k.source.startswith("MCUboot")), None
    )
    if mcuboot_ref is not None:
        theirs = _load(mcuboot_ref.path, load_key) if mcuboot_ref.path.is_file() else None
        if theirs is None:
            add(
                Finding(
                    "mcuboot-key-unreadable",
                    Severity.WARNING,
                    f"cannot read MCUboot's CONFIG_BOOT_ENCRYPTION_KEY_FILE ({mcuboot_ref.path}), "
                    "so the encryption key is not compared with the one MCUboot holds",
                )
            )
        elif theirs.public != ours.public:
            add(
                Finding(
                    "encryption-key-mismatch",
                    Severity.ERROR,
                    f"the encryption key {enc.path} ({enc.source}) is not MCUboot's "
                    f"({mcuboot_ref.path}, CONFIG_BOOT_ENCRYPTION_KEY_FILE): MCUboot cannot "
                    "unwrap the image key and silently keeps the old firmware; use MCUboot's "
                    "key or set SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE / "
                    "CONFIG_BOOT_ENCRYPTION_KEY_FILE to this key and reflash MCUboot",
                )
            )
    elif mb.present and mb.encrypt and not mb.has_encryption_key_option:
        add(
            Finding(
                "keys-c",
                Severity.WARNING,
                "this MCUboot has no CONFIG_BOOT_ENCRYPTION_KEY_FILE (NCS v1.x era): its "
                "decryption key is compiled in from boot/zephyr/keys.c, which must hold "
                f"'mcuseal getpriv' of {enc.path.name} or the update is silently not applied",
            )
        )
    _disagreements(plan.encryption_key_candidates, "encryption", add, load_key)
    _disagreements(plan.signature_key_candidates, "signing", add, load_key)
    if plan.signature_key is not None and mb.present and mb.signature_key_file:
        ref = next(
            (k for k in plan.signature_key_candidates if k.source.startswith("MCUboot")), None
        )
        if (
            ref is not None
            and sig_kind is not None
            and ref.path.is_file()
            and plan.signature_key.source == "-k"
        ):
            theirs = _load(ref.path, load_key)
            if theirs is not None and theirs.public != sig_kind.public:
                add(
                    Finding(
                        "signature-key-mismatch",
                        Severity.ERROR,
                        f"the signing key {plan.signature_key.path} is not the one MCUboot "
                        f"verifies with ({ref.path}, CONFIG_BOOT_SIGNATURE_KEY_FILE): the "
                        "update would fail signature validation; sign with MCUboot's key",
                    )
                )


def _kind_for(scheme: str) -> str:
    return {
        "rsa-oaep": "RSA-2048",
        "ecies-p256": "EC P-256",
        "ecies-x25519": "X25519",
        "aes-kw": "AES key-wrap (KEK)",
    }[scheme]


def _pair_ok(sig: KeyInfo, enc: KeyInfo) -> bool | None:
    pairs = {"rsa": "rsa-oaep", "ecdsa-p256": "ecies-p256", "ed25519": "ecies-x25519"}
    if sig.signature_type is None or enc.enc_scheme is None:
        return None
    return pairs.get(sig.signature_type) == enc.enc_scheme


def _disagreements(refs: Sequence[Any], what: str, add: Any, load_key: Any) -> None:
    seen: list[tuple[Any, KeyInfo]] = []
    for ref in refs:
        if not ref.path.is_file():
            continue
        info = _load(ref.path, load_key)
        if info is None:
            continue
        for other, other_info in seen:
            if other_info.public != info.public:
                add(
                    Finding(
                        f"{what}-key-sources-disagree",
                        Severity.WARNING,
                        f"the build names different {what} keys: {other.source}={other.raw!r} "
                        f"and {ref.source}={ref.raw!r}; mcuseal uses the first, make them agree",
                    )
                )
                return
        seen.append((ref, info))


def _routing_checks(plan: SealPlan, add: Any, encrypt_netcore: bool) -> None:
    mb = plan.mcuboot
    if plan.nrf5340 and (plan.netcore_update or plan.b0n_present):
        verdict, why = _reset_vector_verdict(plan)
        if verdict is Severity.ERROR:
            add(
                Finding(
                    "nrf5340-reset-vector",
                    Severity.ERROR,
                    "nRF5340 network-core update (b0n) is on and MCUboot decides which core an "
                    "update is for from the reset vector at ih_hdr_size+4 of the secondary-slot "
                    "image (> PM_CPUNET_B0N_ADDRESS means network core); in an encrypted image "
                    "that word is ciphertext, so the app image is handed to the network core "
                    f"(~99.6% of the time) and the update fails ({why}); enable simultaneous "
                    "update ("
                    + (
                        "CONFIG_NRF53_MULTI_IMAGE_UPDATE=y in child_image/mcuboot.conf, on NCS >= "
                        f"{'.'.join(map(str, FIXED_NCS_VERSION))}"
                        if plan.flavour is Flavour.NCS_CHILD_IMAGE
                        else "SB_CONFIG_MCUBOOT_NRF53_MULTI_IMAGE_UPDATE=y"
                    )
                    + "), or CONFIG_MCUBOOT_CHECK_HEADER_LOAD_ADDRESS=y (NCS >= 3.2, devicetree "
                    "partitions), or turn network-core update off ("
                    + (
                        "CONFIG_NRF53_UPGRADE_NETWORK_CORE=n"
                        if plan.flavour is Flavour.NCS_CHILD_IMAGE
                        else "SB_CONFIG_NETCORE_APP_UPDATE=n"
                    )
                    + ")",
                )
            )
        else:
            add(Finding("nrf5340-reset-vector", Severity.INFO, why))
    if plan.nsib_upgradable_mcuboot and not (mb.check_header_load_address or mb.uuid_cid):
        add(
            Finding(
                "nsib-reset-vector",
                Severity.ERROR,
                "MCUboot is upgradable under the app core's NSIB (PM_S1_ADDRESS in pm.config) and "
                "reads the reset vector of the secondary-slot image to tell an s0/s1 MCUboot "
                "update from an application update; in an encrypted image that word is "
                "ciphertext, so MCUboot ignores or erases the update; set "
                "CONFIG_MCUBOOT_CHECK_HEADER_LOAD_ADDRESS=y (NCS >= 3.2) or turn NSIB off "
                "(SB_CONFIG_SECURE_BOOT_APPCORE=n / CONFIG_SECURE_BOOT=n)",
            )
        )
    net = plan.netcore
    if encrypt_netcore:
        if net is None:
            add(
                Finding(
                    "encrypt-netcore-no-image",
                    Severity.ERROR,
                    "--encrypt-netcore given but this build has no network-core update image",
                )
            )
        elif not mb.nrf53_multi_image:
            add(
                Finding(
                    "encrypt-netcore-needs-simultaneous",
                    Severity.ERROR,
                    "--encrypt-netcore needs simultaneous multi-image update: without it "
                    "MCUboot hands the secondary slot straight to PCD undecrypted and b0n "
                    "rejects the network-core image; set "
                    "SB_CONFIG_MCUBOOT_NRF53_MULTI_IMAGE_UPDATE=y",
                )
            )
        else:
            add(
                Finding(
                    "encrypt-netcore-experimental",
                    Severity.WARNING,
                    "EXPERIMENTAL: the network-core image is encrypted; NCS neither builds nor "
                    "tests this (MCUboot decrypts into the RAM flash simulator before PCD)",
                )
            )


def _reset_vector_verdict(plan: SealPlan) -> tuple[Severity, str]:
    mb = plan.mcuboot
    if mb.uuid_cid:
        # sdk-mcuboot: the routing block is compiled only "#if !defined(CONFIG_MCUBOOT_UUID_CID)".
        if plan.app.cid is None:
            return Severity.ERROR, (
                "MCUboot routes updates by image UUID (CONFIG_MCUBOOT_UUID_CID) but the "
                "application sets no CONFIG_MCUBOOT_IMGTOOL_UUID_CID, so the image carries no "
                "class UUID"
            )
        return Severity.INFO, (
            "MCUboot routes updates by image UUID (CONFIG_MCUBOOT_UUID_CID); mcuseal signs with "
            "the application's --vid/--cid"
        )
    if mb.check_header_load_address:
        return Severity.INFO, (
            "MCUboot routes updates by the header load address "
            "(CONFIG_MCUBOOT_CHECK_HEADER_LOAD_ADDRESS); mcuseal signs with --rom-fixed"
        )
    version = plan.build.version
    if (
        mb.present
        and not mb.pcd_app
        and not plan.netcore_update
        and version.ncs is not None
        and version.ncs >= PCD_GUARD_NCS_VERSION
    ):
        # sdk-mcuboot v2.0.99-ncs1 (NCS 2.6) compiles the routing only with CONFIG_PCD_APP,
        # which network-core update turns on.
        return Severity.INFO, (
            f"b0n is present but network-core update is off and this MCUboot ({version}) "
            "routes by the reset vector only with CONFIG_PCD_APP"
        )
    if not mb.nrf53_multi_image:
        return Severity.ERROR, "MCUboot is not in simultaneous multi-image mode"
    if plan.flavour.is_sysbuild:
        return Severity.INFO, (
            "simultaneous multi-image update: a sysbuild build means NCS >= 2.4, whose MCUboot "
            "skips the reset-vector routing"
        )
    if version.ncs is not None:
        if version.ncs >= FIXED_NCS_VERSION:
            return Severity.INFO, f"simultaneous multi-image update on {version}: no routing check"
        return Severity.ERROR, (
            f"this build is {version}; its MCUboot runs the check even in simultaneous mode "
            f"(skipped only from sdk-mcuboot {FIXED_MCUBOOT_TAG}, NCS "
            f"{'.'.join(map(str, FIXED_NCS_VERSION))})"
        )
    if version.zephyr is not None and version.zephyr < _ZEPHYR_ONLY_BEFORE_FIX:
        return Severity.ERROR, (
            f"this build is {version} (NCS < 2.2); its MCUboot runs the check even in "
            f"simultaneous mode (skipped only from sdk-mcuboot {FIXED_MCUBOOT_TAG}, NCS 2.3)"
        )
    if version.zephyr is not None and version.zephyr >= _ZEPHYR_ONLY_AFTER_FIX:
        return Severity.INFO, f"simultaneous multi-image update on {version}: no routing check"
    return Severity.ERROR, (
        "the build does not record which NCS release built it (no "
        "zephyr/include/generated/ncs_version.h), and MCUboot before sdk-mcuboot "
        f"{FIXED_MCUBOOT_TAG} (NCS 2.3) runs the check even in simultaneous mode"
    )
