"""Key files for MCUboot images: loading, classification, generation, published-key denylist.

This is the file-level layer over :mod:`mcuseal.image`'s key objects: it turns paths into
``cryptography`` keys, signers, key wrappers and device keys, and every problem into a
one-line :class:`~mcuseal.errors.KeyError_`.
"""

from __future__ import annotations

from mcuseal.keys._files import (
    KEK_SIZES,
    PASSWORD_ENV,
    KeyType,
    classify,
    is_private,
    load_key,
    load_key_or_kek,
    load_private_key,
    load_public_key,
    parse_kek,
    warn_if_exposed,
)
from mcuseal.keys._image import (
    load_device_key,
    load_key_wrapper,
    load_signer,
    signer_for,
    wrapper_for,
)
from mcuseal.keys.devkeys import dev_key_name, fingerprint, refuse_dev_keys

__all__ = [
    "KEK_SIZES",
    "PASSWORD_ENV",
    "KeyType",
    "classify",
    "dev_key_name",
    "fingerprint",
    "is_private",
    "load_device_key",
    "load_key",
    "load_key_or_kek",
    "load_key_wrapper",
    "load_private_key",
    "load_public_key",
    "load_signer",
    "parse_kek",
    "refuse_dev_keys",
    "signer_for",
    "warn_if_exposed",
    "wrapper_for",
]
