"""Act on a :class:`~mcuseal.build.plan.SealPlan`: sign, encrypt and write the SDK-named outputs.

Order matters for the promise that a refusal leaves the build directory untouched: the
preflight runs first, then every output is computed in memory, and only then is anything
written (each file atomically).  SDK files other than the ones named below stay
byte-identical.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcuseal._io import atomic_writer
from mcuseal.build import dfuzip
from mcuseal.build._extra import apply_imgtool_args
from mcuseal.build.plan import ImagePlan, SealPlan
from mcuseal.build.preflight import Finding, run_preflight
from mcuseal.build.reader import Flavour
from mcuseal.errors import (
    BuildError,
    ImageFormatError,
    InputError,
    OutputWriteError,
    UsageError,
)
from mcuseal.image import (
    ImageFlags,
    ImageVersion,
    KeyWrapper,
    ParsedImage,
    Signer,
    SignOptions,
    TlvType,
    sign_image,
)

_log = logging.getLogger(__name__)

_SIGNATURE_TLVS = frozenset(
    {TlvType.ECDSA_SIG, TlvType.RSA2048_PSS, TlvType.RSA3072_PSS, TlvType.ED25519}
)


@dataclass(frozen=True)
class SealOptions:
    """How to act on the plan (the plan itself says what).

    :param force: turn preflight refusals into warnings
    :param allow_dev_keys: accept published development keys (MCUboot's, the samples')
    :param encrypt_netcore: EXPERIMENTAL: encrypt the nRF5340 network-core image too
    :param extra_args: imgtool options given after ``--`` (applied after the build's own)
    """

    force: bool = False
    allow_dev_keys: bool = False
    encrypt_netcore: bool = False
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Output:
    path: Path
    role: str  # "dfu", "dfu-hex", "factory", "merged-factory", "dfu-zip", "zip-manifest"
    replaced: bool  # an SDK file of that name existed and was rewritten

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "role": self.role, "replaced": self.replaced}


@dataclass(frozen=True)
class SealResult:
    plan: SealPlan
    outputs: tuple[Output, ...]
    kept: tuple[tuple[Path, str], ...]
    flash: Path | None
    warnings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()
    dev_keys: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "build_dir": str(self.plan.build.build_dir),
            "flavour": self.plan.flavour.value,
            "outputs": [o.to_json() for o in self.outputs],
            "kept": [{"path": str(p), "why": why} for p, why in self.kept],
            "flash": str(self.flash) if self.flash else None,
            "warnings": [f.to_json() for f in self.warnings],
            "notes": list(self.notes),
            "dev_keys": list(self.dev_keys),
        }


@dataclass
class _Pending:
    writes: list[tuple[Path, bytes, str]] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, path: Path, data: bytes, role: str) -> None:
        self.writes.append((path, data, role))


def _load_keys(plan: SealPlan, allow_dev_keys: bool) -> tuple[Signer, KeyWrapper, list[str]]:
    from mcuseal.keys import load_key_or_kek, load_signer, refuse_dev_keys, wrapper_for

    enc, sig = plan.encryption_key, plan.signature_key
    if enc is None:
        raise UsageError(
            "no encryption key: pass --encrypt KEY or configure SB_CONFIG_BOOT_ENCRYPTION_KEY_FILE"
            " / CONFIG_MCUBOOT_ENCRYPTION_KEY_FILE / CONFIG_MCUSEAL_ENCRYPTION_KEY_FILE"
        )
    if sig is None:
        raise UsageError(
            "no signing key: pass -k KEY or configure SB_CONFIG_BOOT_SIGNATURE_KEY_FILE / "
            "CONFIG_MCUBOOT_SIGNATURE_KEY_FILE"
        )
    # Each key is read once, so its warnings (mode, development key) come once. The signer
    # may live in a token (pkcs11: URI): its public bytes are what the denylist knows.
    signer = load_signer(sig.path)
    enc_key = load_key_or_kek(enc.path)
    wrapper = wrapper_for(enc_key, path=enc.path)
    dev = [
        name
        for name in (
            refuse_dev_keys(
                signer.public_key_bytes(), role="signing key", path=sig.path, allow=allow_dev_keys
            ),
            refuse_dev_keys(enc_key, role="encryption key", path=enc.path, allow=allow_dev_keys),
        )
        if name
    ]
    return signer, wrapper, dev


def sign_options(plan: SealPlan, image: ImagePlan, extra: tuple[str, ...] = ()) -> SignOptions:
    """The :class:`SignOptions` the SDK's own signing step would use for *image*."""
    rom_fixed = image.rom_fixed
    if plan.mcuboot.check_header_load_address and rom_fixed is None:
        # MCUboot compares ih_load_addr with the primary slot instead of the reset vector.
        if image.slot_addr is None:
            raise BuildError("CONFIG_MCUBOOT_CHECK_HEADER_LOAD_ADDRESS needs the slot address")
        rom_fixed = image.slot_addr
    options = SignOptions(
        header_size=image.header_size,
        version=ImageVersion.parse(image.version),
        slot_size=image.slot_size,
        pad_header=image.pad_header,
        align=image.align,
        overwrite_only=image.overwrite_only,
        security_counter=image.security_counter,
        load_addr=image.ram_load_addr or 0,
        rom_fixed=rom_fixed,
        sha=image.sha or "auto",  # type: ignore[arg-type]
        pure=image.pure,
        encrypt_keylen=image.encrypt_keylen,  # type: ignore[arg-type]
        hmac_sha=image.hmac_sha or "auto",  # type: ignore[arg-type]
        save_enctlv=plan.mcuboot.save_enctlv,
        vid=image.vid,
        cid=image.cid,
    )
    options = apply_imgtool_args(options, image.extra_args, "CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS")
    return apply_imgtool_args(options, extra, "extra imgtool arguments")


def _read_payload(path: Path) -> bytes:
    from mcuseal.image.hexfile import load_hex

    if path.suffix == ".hex":
        data = load_hex(path)[1]
    else:
        try:
            data = path.read_bytes()
        except OSError as err:
            raise BuildError(f"cannot read {path}: {err.strerror}") from None
    if not data:
        raise BuildError(f"{path} is empty; the build did not finish, rebuild it")
    return data


def _is_encrypted_hex(path: Path) -> bool:
    from mcuseal.image.hexfile import load_hex

    try:
        parsed = ParsedImage.loads(load_hex(path)[1])
    except InputError:  # an SDK file we only inspect: unreadable means "not ours to keep"
        return False
    both = ImageFlags.ENCRYPTED_AES128 | ImageFlags.ENCRYPTED_AES256
    return bool(parsed.header.flags & both)


def seal(
    plan: SealPlan, options: SealOptions, *, clock: Callable[[], float] = time.time
) -> SealResult:
    """Run the preflight, then sign/encrypt every planned image and write the outputs.

    :raises PreflightError: a refusal (unless ``options.force``); nothing is written.
    """
    report = run_preflight(plan, encrypt_netcore=options.encrypt_netcore)
    warnings = report.raise_for_errors(force=options.force)
    signer, wrapper, dev_keys = _load_keys(plan, options.allow_dev_keys)
    try:
        return _seal_images(plan, options, warnings, signer, wrapper, dev_keys, clock)
    finally:
        close = getattr(signer, "close", None)
        if close is not None:
            close()  # logs out of the token, if the key is in one


def _seal_images(
    plan: SealPlan,
    options: SealOptions,
    warnings: Sequence[Finding],
    signer: Signer,
    wrapper: KeyWrapper,
    dev_keys: list[str],
    clock: Callable[[], float],
) -> SealResult:
    from mcuseal.image.hexfile import dump_hex

    pending = _Pending()
    app = plan.app
    opts = sign_options(plan, app, options.extra_args)
    payload = _read_payload(app.input_path)
    dfu = sign_image(payload, opts, signer=signer, encrypt_to=wrapper).to_bytes()
    pending.add(app.outputs["encrypted_bin"], dfu, "dfu")
    if "encrypted_hex" in app.outputs and app.slot_addr is not None:
        pending.add(app.outputs["encrypted_hex"], dump_hex(dfu, app.slot_addr).encode(), "dfu-hex")

    factory_path = app.outputs["factory_hex"]
    enc_source = plan.encryption_key.source if plan.encryption_key else ""
    sdk_factory = (
        app.sdk_signed_hex is not None
        and app.sdk_signed_hex == factory_path
        and enc_source != "--encrypt"
        and _is_encrypted_hex(factory_path)
    )
    factory: bytes | None = None
    if sdk_factory:
        pending.kept.append((factory_path, "the SDK already made it with --encrypt KEY --clear"))
    elif app.slot_addr is None:
        pending.notes.append("no slot address in the build: the factory hex is not made")
    else:
        clear = dataclasses.replace(opts, clear=True)
        image = sign_image(payload, clear, signer=signer, encrypt_to=wrapper)
        factory = dump_hex(image, app.slot_addr).encode()
        pending.add(factory_path, factory, "factory")
    flash: Path | None = factory_path if (factory or sdk_factory) else None
    if plan.merged_hex is not None and factory is not None and app.slot_addr is not None:
        merged_factory = _merged_factory(plan.merged_hex, factory, app.slot_addr, app.slot_size)
        path = plan.merged_hex.with_name("merged.factory.hex")
        pending.add(path, merged_factory, "merged-factory")
        flash = path
    elif plan.merged_hex is not None and sdk_factory:
        flash = plan.merged_hex

    replacements = [_zip_target(plan, app, dfu)]
    net = plan.netcore
    if net is not None:
        replacement = _netcore(plan, net, options, signer, wrapper, pending)
        if replacement is not None:
            replacements.append(replacement)
    if plan.dfu_zip is not None:
        _rewrite_zip(plan.dfu_zip, replacements, int(clock()), pending)
    elif plan.flavour.is_ncs:
        pending.notes.append("no dfu_application.zip in the build: nothing to rewrite")

    outputs = _write_all(pending.writes)
    for sdk_file in (app.sdk_signed_bin,):
        if sdk_file is not None:
            pending.kept.append((sdk_file, "SDK output, unchanged"))
    return SealResult(
        plan=plan,
        outputs=tuple(outputs),
        kept=tuple(pending.kept),
        flash=flash,
        warnings=tuple(warnings),
        notes=(*plan.notes, *pending.notes),
        dev_keys=tuple(dev_keys),
    )


def _write_all(writes: list[tuple[Path, bytes, str]]) -> list[Output]:
    """Write every output or none: all temporaries first, then the renames.

    An unwritable build directory (read-only, full disk) fails while the temporaries are
    made, so the build directory is left as it was.
    """
    for path, _, _ in writes:
        if path.is_dir():
            raise BuildError(f"cannot write {path}: a directory has that name; remove it")
    outputs = [Output(path=path, role=role, replaced=path.exists()) for path, _, role in writes]
    current = writes[0][0] if writes else None
    try:
        with contextlib.ExitStack() as stack:
            for path, data, _ in writes:
                current = path
                out = stack.enter_context(atomic_writer(path))
                out.write(data)
                out.flush()  # a full disk or a size limit shows here, naming this file
    except (OSError, OutputWriteError) as err:
        failed: object = err.path if isinstance(err, OutputWriteError) else current
        reason = err.reason if isinstance(err, OutputWriteError) else err.strerror or str(err)
        raise BuildError(
            f"cannot write {failed}: {reason}; nothing was written, make the "
            "build directory writable and run again"
        ) from None
    return outputs


def _netcore(
    plan: SealPlan,
    net: ImagePlan,
    options: SealOptions,
    signer: Signer,
    wrapper: KeyWrapper,
    pending: _Pending,
) -> _ZipTarget | None:
    if not options.encrypt_netcore:
        if net.reuse_path is not None:
            why = "network-core image reused as the SDK signed it (b0n validates plaintext)"
            if not _has_signature(net.reuse_path, pending):
                why += "; it carries no signature TLV (hash only, as NCS's b0 signing makes it)"
            pending.kept.append((net.reuse_path, why))
        return None
    payload = _read_payload(net.input_path)
    opts = sign_options(plan, dataclasses.replace(net, extra_args=()), options.extra_args)
    data = sign_image(payload, opts, signer=signer, encrypt_to=wrapper).to_bytes()
    pending.add(net.outputs["encrypted_bin"], data, "dfu-netcore")
    return _zip_target(plan, net, data)


def _has_signature(path: Path, pending: _Pending) -> bool:
    try:
        parsed = ParsedImage.loads(path.read_bytes())
    except (OSError, ImageFormatError) as err:
        pending.notes.append(f"{path.name} does not parse as an MCUboot image: {err}")
        return True
    return any(t.type in _SIGNATURE_TLVS for t in parsed.unprotected_tlvs)


@dataclass(frozen=True)
class _ZipTarget:
    image_number: int
    name: str
    new_name: str
    data: bytes


def _zip_target(plan: SealPlan, image: ImagePlan, data: bytes) -> _ZipTarget:
    if image.role == "app":
        new = (
            "app_update.encrypted.bin"
            if plan.flavour is Flavour.NCS_CHILD_IMAGE
            else f"{image.name}.signed.encrypted.bin"
        )
    else:
        new = f"{image.name}.encrypted.bin"
    return _ZipTarget(image.image_number, image.name, new, data)


def _rewrite_zip(
    zip_path: Path, targets: list[_ZipTarget], modtime: int, pending: _Pending
) -> None:
    manifest = dfuzip.load_manifest(zip_path)
    replacements = []
    for t in targets:
        names = (f"{t.name}.bin", f"{t.name}.signed.encrypted.bin", "app_update.bin", t.new_name)
        old = dfuzip.find_entry(manifest, image_index=t.image_number, names=names)
        if old is None:
            raise BuildError(
                f"{zip_path}: the manifest has no entry for image {t.image_number} ({t.name}); "
                "rebuild to regenerate the zip"
            )
        replacements.append(dfuzip.Replacement(old_name=old, new_name=t.new_name, data=t.data))
    rewritten = dfuzip.rewrite(zip_path, replacements, modtime)
    pending.add(zip_path, rewritten.zip_bytes, "dfu-zip")
    manifest_path = zip_path.with_name(zip_path.name + "_manifest.json")
    if manifest_path.exists():
        pending.add(manifest_path, rewritten.manifest_text.encode(), "zip-manifest")


def _merged_factory(merged_hex: Path, factory: bytes, slot_addr: int, slot_size: int) -> bytes:
    import io

    from intelhex import IntelHex, IntelHexError

    merged = IntelHex()
    try:
        merged.loadhex(str(merged_hex))
        new = IntelHex()
        new.loadhex(io.StringIO(factory.decode("ascii")))
    except (OSError, IntelHexError, ValueError) as err:
        raise BuildError(f"cannot read {merged_hex}: {err}") from None
    for addr in [a for a in merged.addresses() if slot_addr <= a < slot_addr + slot_size]:
        del merged[addr]
    merged.merge(new, overlap="replace")
    out = io.StringIO()
    merged.write_hex_file(out)
    return out.getvalue().encode()
