"""Signing, key wrapping and unwrapping, as imgtool writes and bootutil reads them.

* :class:`Signer` is the seam for HSM/KMS/offline signing: it gets exactly the bytes
  ``imgtool sign --vector-to-sign`` would export and returns the signature TLV value.
* :class:`KeyWrapper` wraps the per-image AES key for the device (ENC TLV 0x30-0x34);
  :func:`key_wrapper_for` refuses keys bootutil cannot unwrap.
* :class:`DeviceKey` is the device side: it unwraps an ENC TLV as ``boot_decrypt_key()`` does.
"""

from __future__ import annotations

import enum
import hmac as std_hmac
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from mcuseal.errors import KeyError_, UnwrapError, UsageError
from mcuseal.image import rng
from mcuseal.image.structs import TlvType

_ECIES_INFO = b"MCUBoot_ECIES_v1"
_ZERO_IV = bytes(16)


class KeyKind(enum.Enum):
    """Signature schemes MCUboot verifies."""

    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    ED25519 = "ed25519"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"

    @property
    def sig_tlv(self) -> TlvType:
        return _SIG_TLV[self]

    @property
    def allowed_sha(self) -> tuple[int, ...]:
        """Hash sizes imgtool accepts with a private key of this kind (first = ``auto``)."""
        return _ALLOWED_SHA[self]

    @property
    def padded_sig_len(self) -> int | None:
        """``--pad-sig`` length of the DER ECDSA signature (MCUboot < 1.5), None otherwise."""
        return {KeyKind.ECDSA_P256: 72, KeyKind.ECDSA_P384: 103}.get(self)


_SIG_TLV = {
    KeyKind.ECDSA_P256: TlvType.ECDSA_SIG,
    KeyKind.ECDSA_P384: TlvType.ECDSA_SIG,
    KeyKind.ED25519: TlvType.ED25519,
    KeyKind.RSA_2048: TlvType.RSA2048_PSS,
    KeyKind.RSA_3072: TlvType.RSA3072_PSS,
}
_ALLOWED_SHA = {
    KeyKind.ECDSA_P256: (256,),
    KeyKind.ECDSA_P384: (384,),
    KeyKind.ED25519: (256, 512),
    KeyKind.RSA_2048: (256,),
    KeyKind.RSA_3072: (256,),
}

PublicKey = (
    ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey | x25519.X25519PublicKey
)
PrivateKey = (
    ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | rsa.RSAPrivateKey
    | x25519.X25519PrivateKey
)


def key_kind(key: object) -> KeyKind:
    """The signature scheme of a cryptography public or private key object.

    :raises KeyError_: for a key MCUboot cannot verify signatures with.
    """
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if isinstance(key.curve, ec.SECP256R1):
            return KeyKind.ECDSA_P256
        if isinstance(key.curve, ec.SECP384R1):
            return KeyKind.ECDSA_P384
        raise KeyError_(
            f"ECDSA curve {key.curve.name} is not supported by MCUboot: use a P-256 or P-384 key"
        )
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return KeyKind.ED25519
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size == 2048:
            return KeyKind.RSA_2048
        if key.key_size == 3072:
            return KeyKind.RSA_3072
        raise KeyError_(
            f"RSA-{key.key_size} is not supported by MCUboot: use an RSA-2048 or RSA-3072 key"
        )
    raise KeyError_(
        f"{type(key).__name__} cannot sign MCUboot images: use an ECDSA P-256/P-384, Ed25519 "
        "or RSA-2048/3072 key"
    )


def public_key_bytes(key: object) -> bytes:
    """The bytes bootutil hashes for KEYHASH (and PUBKEY carries).

    DER SubjectPublicKeyInfo for EC and Ed25519/X25519, DER PKCS#1 RSAPublicKey for RSA.
    """
    pub = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(pub, rsa.RSAPublicKey):
        return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(
        pub,
        (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, x25519.X25519PublicKey),
    ):
        return pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    raise KeyError_(f"{type(key).__name__} is not a public key mcuseal can use")


def load_public_key_bytes(data: bytes) -> PublicKey:
    """Inverse of :func:`public_key_bytes` (PUBKEY TLVs, ``--fix-sig-pubkey`` raw bytes)."""
    key: object
    try:
        # cryptography falls back to a bare PKCS#1 RSAPublicKey when the DER is not SPKI.
        key = serialization.load_der_public_key(data)
    except ValueError:
        raise KeyError_(
            "public key bytes are neither DER SubjectPublicKeyInfo nor PKCS#1: "
            "export the key with `mcuseal getpub -e raw`"
        ) from None
    if not isinstance(
        key,
        (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey),
    ):
        raise KeyError_(f"{type(key).__name__} cannot verify MCUboot signatures")
    return key


def _hash_for_len(n: int) -> hashes.HashAlgorithm:
    algos: dict[int, hashes.HashAlgorithm] = {
        32: hashes.SHA256(),
        48: hashes.SHA384(),
        64: hashes.SHA512(),
    }
    try:
        return algos[n]
    except KeyError:
        raise UsageError(f"a {n}-byte digest is not a SHA-256/384/512 digest") from None


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign an MCUboot image (a key file, an HSM, a KMS, a person)."""

    @property
    def key_kind(self) -> KeyKind: ...

    def public_key_bytes(self) -> bytes:
        """The bytes MCUboot hashes for KEYHASH / writes in PUBKEY."""
        ...

    def sign(self, to_sign: bytes) -> bytes:
        """Sign what ``--vector-to-sign`` exports: the digest, or the region for pure Ed25519.

        :returns: the signature TLV value (DER for ECDSA, raw for RSA-PSS and Ed25519).
        """
        ...


class CryptographySigner:
    """A :class:`Signer` over a ``cryptography`` private key object."""

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey,
    ) -> None:
        self._key = private_key
        self._kind = key_kind(private_key)
        if not isinstance(
            private_key,
            (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey),
        ):
            raise KeyError_("cannot sign with a public key: pass the private key")

    @property
    def key_kind(self) -> KeyKind:
        return self._kind

    def public_key_bytes(self) -> bytes:
        return public_key_bytes(self._key)

    def sign(self, to_sign: bytes) -> bytes:
        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(to_sign)
        algo = _hash_for_len(len(to_sign))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(to_sign, ec.ECDSA(utils.Prehashed(algo)))
        return key.sign(
            to_sign,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            utils.Prehashed(algo),
        )


def verify_signature(public_key: object, kind: KeyKind, signature: bytes, signed: bytes) -> bool:
    """Check a signature TLV value the way bootutil does (*signed* = digest, or region if pure)."""
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, signed)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            # MCUboot < 1.5 padded DER with zeros; the DER length byte says where it ends.
            if len(signature) < 2:
                return False
            der = signature[: signature[1] + 2]
            public_key.verify(der, signed, ec.ECDSA(utils.Prehashed(_hash_for_len(len(signed)))))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(
                signature,
                signed,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                utils.Prehashed(_hash_for_len(len(signed))),
            )
        else:
            return False
    except (InvalidSignature, ValueError, UsageError):
        return False
    return True


class EncScheme(enum.Enum):
    """Key-wrapping schemes of ``boot_decrypt_key()``."""

    RSA_OAEP = "rsa-oaep"
    AES_KW = "aes-kw"
    ECIES_P256 = "ecies-p256"
    ECIES_X25519 = "ecies-x25519"


@runtime_checkable
class KeyWrapper(Protocol):
    """Wraps the per-image AES key for one device key (recipient side)."""

    @property
    def scheme(self) -> EncScheme: ...

    def wrap(self, plainkey: bytes, *, hmac_sha: int) -> tuple[int, bytes]:
        """:returns: (ENC TLV type, TLV value)."""
        ...


def _ecies_derive(shared: bytes, keylen: int, algo: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    okm = HKDF(
        algorithm=algo, length=keylen + algo.digest_size, salt=None, info=_ECIES_INFO
    ).derive(shared)
    return okm[:keylen], okm[keylen:]


def _aes_ctr(key: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(_ZERO_IV)).encryptor()
    return enc.update(data) + enc.finalize()


def _mac(key: bytes, algo: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hmac.HMAC(key, algo)
    h.update(data)
    return h.finalize()


def _hmac_algo(hmac_sha: int) -> hashes.HashAlgorithm:
    return hashes.SHA512() if hmac_sha == 512 else hashes.SHA256()


class RsaOaepWrapper:
    """ENC_RSA2048 (0x30): RSAES-OAEP, SHA-256 and MGF1-SHA-256, empty label."""

    scheme = EncScheme.RSA_OAEP

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        self._pub = public_key

    def wrap(self, plainkey: bytes, *, hmac_sha: int) -> tuple[int, bytes]:
        _no_hmac_512(self.scheme, hmac_sha)
        return TlvType.ENC_RSA2048, self._pub.encrypt(plainkey, _OAEP)


_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _no_hmac_512(scheme: EncScheme, hmac_sha: int) -> None:
    if hmac_sha == 512:
        raise UsageError(
            f"--hmac-sha 512 works only with an X25519 encryption key, not {scheme.value}: "
            "drop --hmac-sha or use an X25519 -E key"
        )


class AesKwWrapper:
    """ENC_KW (0x31): RFC 3394 AES key wrap under a pre-shared KEK."""

    scheme = EncScheme.AES_KW

    def __init__(self, kek: bytes) -> None:
        if len(kek) not in (16, 32):
            raise KeyError_(
                f"AES-KW key-encryption key is {len(kek)} bytes: it must be 16 (AES-128) "
                "or 32 (AES-256) raw bytes, or their base64"
            )
        self._kek = bytes(kek)

    @property
    def kek_bits(self) -> int:
        return len(self._kek) * 8

    def wrap(self, plainkey: bytes, *, hmac_sha: int) -> tuple[int, bytes]:
        _no_hmac_512(self.scheme, hmac_sha)
        _check_kek_len(self._kek, len(plainkey))
        return TlvType.ENC_KW, aes_key_wrap(self._kek, plainkey)


def _check_kek_len(kek: bytes, key_len: int) -> None:
    if len(kek) != key_len:
        raise KeyError_(
            f"AES-KW key-encryption key is AES-{len(kek) * 8} but the image key is "
            f"AES-{key_len * 8}; bootutil requires them equal: use --encrypt-keylen "
            f"{len(kek) * 8} or a {key_len}-byte KEK"
        )


def _ecies_tlv(eph_pub: bytes, shared: bytes, plainkey: bytes, algo: hashes.HashAlgorithm) -> bytes:
    """The ECIES TLV value: ``eph_pub || HMAC(k_mac, cipherkey) || cipherkey``."""
    k_enc, k_mac = _ecies_derive(shared, len(plainkey), algo)
    cipherkey = _aes_ctr(k_enc, plainkey)
    return eph_pub + _mac(k_mac, algo, cipherkey) + cipherkey


class EciesP256Wrapper:
    """ENC_EC256 (0x32): ephemeral P-256 ECDH, HKDF/HMAC-SHA256, AES-CTR."""

    scheme = EncScheme.ECIES_P256

    def __init__(self, public_key: ec.EllipticCurvePublicKey) -> None:
        self._pub = public_key

    def wrap(self, plainkey: bytes, *, hmac_sha: int) -> tuple[int, bytes]:
        _no_hmac_512(self.scheme, hmac_sha)
        eph = rng.new_p256_private_key()
        eph_pub = eph.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        shared = eph.exchange(ec.ECDH(), self._pub)
        return TlvType.ENC_EC256, _ecies_tlv(eph_pub, shared, plainkey, hashes.SHA256())


class EciesX25519Wrapper:
    """ENC_X25519 (0x33, HKDF/HMAC-SHA256) or ENC_X25519_SHA512 (0x34)."""

    scheme = EncScheme.ECIES_X25519

    def __init__(self, public_key: x25519.X25519PublicKey) -> None:
        self._pub = public_key

    def wrap(self, plainkey: bytes, *, hmac_sha: int) -> tuple[int, bytes]:
        eph = rng.new_x25519_private_key()
        eph_pub = eph.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        tlv_type = TlvType.ENC_X25519_SHA512 if hmac_sha == 512 else TlvType.ENC_X25519
        value = _ecies_tlv(eph_pub, eph.exchange(self._pub), plainkey, _hmac_algo(hmac_sha))
        return tlv_type, value


def key_wrapper_for(key: object) -> KeyWrapper:
    """A :class:`KeyWrapper` for a public/private key object or KEK bytes.

    :raises KeyError_: for keys the bootloader cannot unwrap with (P-384, RSA-3072, Ed25519 ...).
    """
    if isinstance(key, (bytes, bytearray)):
        return AesKwWrapper(bytes(key))
    pub = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(pub, rsa.RSAPublicKey):
        if pub.key_size != 2048:
            raise KeyError_(
                f"RSA-{pub.key_size} encryption keys cannot be used: bootutil unwraps only "
                "RSA-2048 (a 256-byte ENC_RSA2048 TLV); use an RSA-2048 -E key"
            )
        return RsaOaepWrapper(pub)
    if isinstance(pub, ec.EllipticCurvePublicKey):
        if not isinstance(pub.curve, ec.SECP256R1):
            raise KeyError_(
                f"ECDSA {pub.curve.name} encryption keys cannot be used: bootutil's ECIES "
                "supports only P-256 (imgtool would write no key TLV at all); use a P-256 or "
                "X25519 -E key"
            )
        return EciesP256Wrapper(pub)
    if isinstance(pub, x25519.X25519PublicKey):
        return EciesX25519Wrapper(pub)
    raise KeyError_(
        f"a {type(pub).__name__.removeprefix('_')} key cannot encrypt MCUboot images: use an "
        "RSA-2048, P-256 or X25519 key, or an AES-KW KEK"
    )


class DeviceKey:
    """The device's decryption key: a private key object, or AES-KW KEK bytes."""

    def __init__(
        self,
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | bytes,
    ) -> None:
        if isinstance(key, (bytes, bytearray)):
            if len(key) not in (16, 32):
                raise KeyError_(
                    f"AES-KW key-encryption key is {len(key)} bytes: it must be 16 or 32 bytes"
                )
            self._key: object = bytes(key)
            self.scheme = EncScheme.AES_KW
        elif isinstance(key, rsa.RSAPrivateKey):
            self._key = key
            self.scheme = EncScheme.RSA_OAEP
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise KeyError_(
                    f"{key.curve.name} device keys cannot decrypt MCUboot images: only P-256"
                )
            self._key = key
            self.scheme = EncScheme.ECIES_P256
        elif isinstance(key, x25519.X25519PrivateKey):
            self._key = key
            self.scheme = EncScheme.ECIES_X25519
        else:
            raise KeyError_(
                f"{type(key).__name__} cannot decrypt MCUboot images: pass the device's RSA-2048, "
                "P-256 or X25519 private key, or the AES-KW KEK"
            )

    @property
    def tlv_types(self) -> tuple[int, ...]:
        """ENC TLV types this key can unwrap."""
        return {
            EncScheme.AES_KW: (TlvType.ENC_KW,),
            EncScheme.RSA_OAEP: (TlvType.ENC_RSA2048,),
            EncScheme.ECIES_P256: (TlvType.ENC_EC256,),
            EncScheme.ECIES_X25519: (TlvType.ENC_X25519, TlvType.ENC_X25519_SHA512),
        }[self.scheme]

    def unwrap(self, tlv_type: int, tlv_value: bytes, aes_key_bits: int) -> bytes:
        """Recover the AES key from an ENC TLV, with bootutil's length and MAC checks.

        :raises UnwrapError: wrong TLV type or length, MAC/OAEP/KW failure.
        """
        if tlv_type not in self.tlv_types:
            raise UnwrapError(
                f"ENC TLV 0x{tlv_type:02x} cannot be unwrapped with a {self.scheme.value} device "
                "key: the image was encrypted for a different kind of key"
            )
        keylen = aes_key_bits // 8
        key = self._key
        if isinstance(key, bytes):
            if len(tlv_value) != keylen + 8:
                raise UnwrapError(_bad_len(tlv_type, len(tlv_value), keylen + 8))
            if len(key) != keylen:
                raise UnwrapError(
                    f"AES-KW KEK is AES-{len(key) * 8} but the image key is AES-{aes_key_bits}: "
                    "bootutil requires them equal"
                )
            try:
                return aes_key_unwrap(key, tlv_value)
            except InvalidUnwrap:
                raise UnwrapError("AES-KW unwrap failed: wrong KEK") from None
        if isinstance(key, rsa.RSAPrivateKey):
            if len(tlv_value) != 256 or key.key_size != 2048:
                raise UnwrapError(_bad_len(tlv_type, len(tlv_value), 256))
            try:
                plain = key.decrypt(tlv_value, _OAEP)
            except ValueError:
                raise UnwrapError("RSA-OAEP unwrap failed: wrong device key") from None
            if len(plain) != keylen:
                raise UnwrapError(
                    f"RSA-OAEP block holds a {len(plain) * 8}-bit key but the image flags say "
                    f"AES-{aes_key_bits}"
                )
            return plain
        return self._unwrap_ecies(tlv_type, tlv_value, keylen)

    def _unwrap_ecies(self, tlv_type: int, value: bytes, keylen: int) -> bytes:
        key = self._key
        algo: hashes.HashAlgorithm
        if isinstance(key, ec.EllipticCurvePrivateKey):
            algo, eph_len = hashes.SHA256(), 65
        else:
            algo = hashes.SHA512() if tlv_type == TlvType.ENC_X25519_SHA512 else hashes.SHA256()
            eph_len = 32
        expected = eph_len + algo.digest_size + keylen
        if len(value) != expected:
            raise UnwrapError(_bad_len(tlv_type, len(value), expected))
        eph_raw = value[:eph_len]
        tag = value[eph_len : eph_len + algo.digest_size]
        cipherkey = value[eph_len + algo.digest_size :]
        try:
            if isinstance(key, ec.EllipticCurvePrivateKey):
                if eph_raw[0] != 0x04:
                    raise ValueError("compressed point")
                eph_pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), eph_raw)
                shared = key.exchange(ec.ECDH(), eph_pub)
            else:
                assert isinstance(key, x25519.X25519PrivateKey)
                shared = key.exchange(x25519.X25519PublicKey.from_public_bytes(eph_raw))
        except (ValueError, InvalidTag):
            raise UnwrapError("ENC TLV holds an invalid ephemeral public key") from None
        k_enc, k_mac = _ecies_derive(shared, keylen, algo)
        if not std_hmac.compare_digest(_mac(k_mac, algo, cipherkey), tag):
            raise UnwrapError("ECIES HMAC check failed: wrong device key or corrupted ENC TLV")
        return _aes_ctr(k_enc, cipherkey)


def _bad_len(tlv_type: int, got: int, want: int) -> str:
    return (
        f"ENC TLV 0x{tlv_type:02x} is {got} bytes, the device expects {want} "
        "(BOOT_ENC_TLV_SIZE): AES key size or scheme does not match"
    )


__all__ = [
    "AesKwWrapper",
    "CryptographySigner",
    "DeviceKey",
    "EciesP256Wrapper",
    "EciesX25519Wrapper",
    "EncScheme",
    "KeyKind",
    "KeyWrapper",
    "RsaOaepWrapper",
    "Signer",
    "UnwrapError",
    "key_kind",
    "key_wrapper_for",
    "public_key_bytes",
    "verify_signature",
]
