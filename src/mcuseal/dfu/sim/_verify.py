"""MCUboot's image validation for the virtual device, from mcuseal's image core.

:class:`McubootCheck` is the :class:`~mcuseal.dfu.sim.BootCheck` the device uses at
reset: :func:`mcuseal.image.verify_image` runs bootutil's checks in bootutil's order
(header, TLVs, key unwrap with the device's private key, hash over the decrypted
payload, key hash, signature), and an accepted encrypted update is decrypted with
:func:`mcuseal.image.decrypt_image`, because the bootloader writes plaintext into the
primary slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mcuseal.dfu.sim._mcuboot import BootVerdict
from mcuseal.image import DeviceKey, EncryptionState, decrypt_image, verify_image


class McubootCheck:
    """Validate images as an MCUboot built with *trusted_keys* and *device_key* would.

    :param trusted_keys: the signature public keys compiled into the bootloader
        (cryptography key objects); empty for a hash-only bootloader
    :param device_key: the device's decryption key (``MCUBOOT_ENC_IMAGES``), or None for
        a bootloader without encryption support: it then rejects encrypted updates
    :param slot_size: the slot size the image must fit
    """

    def __init__(
        self,
        trusted_keys: Sequence[object],
        device_key: DeviceKey | None,
        *,
        slot_size: int | None = None,
    ) -> None:
        self.trusted_keys = tuple(trusted_keys)
        self.device_key = device_key
        self.slot_size = slot_size

    @classmethod
    def from_files(
        cls,
        sign_keys: Sequence[Path],
        enc_key: Path | None,
        *,
        slot_size: int | None = None,
    ) -> McubootCheck:
        """Load the signature public keys (PEM/DER, public or private) and the device's
        private decryption key (PEM/DER, or a KEK file).

        :raises KeyError_: a key file that cannot be used, named in the message
        """
        from mcuseal.keys import load_device_key, load_public_key

        trusted = [load_public_key(path) for path in sign_keys]
        device_key = load_device_key(enc_key) if enc_key is not None else None
        return cls(trusted, device_key, slot_size=slot_size)

    def check(self, image: bytes, *, image_index: int, slot: int) -> BootVerdict:
        """Judge *image* found in *slot* (0 primary, 1 secondary) of *image_index*."""
        report = verify_image(
            image,
            trusted_keys=self.trusted_keys,
            device_key=self.device_key,
            slot="secondary" if slot == 1 else "primary",
            slot_size=self.slot_size,
        )
        if not report.accepted:
            reason = "; ".join(
                f"{c.name}: {c.detail}" if c.detail else c.name for c in report.failed
            )
            return BootVerdict(False, reason or "rejected")
        if not report.payload_checked:
            # bootutil cannot hash what it cannot decrypt: no device key, no boot.
            return BootVerdict(False, "encrypted payload and no device key to decrypt it")
        if slot == 1 and report.encryption is EncryptionState.ENCRYPTED:
            assert self.device_key is not None
            runnable = decrypt_image(image, self.device_key).clear_image()
            return BootVerdict(True, "valid (decrypted with the device key)", runnable)
        return BootVerdict(True, "valid", image)
