"""sign / verify / decrypt / info end to end through the CLI, for every encryption scheme."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import HEADER, Keys, run_cli

SLOT = "0x20000"


def _sign(keys: Keys, app: Path, out: Path, *extra: object) -> int:
    base = ["sign", "-H", hex(HEADER), "-S", SLOT, "-v", "1.2.3+4"]
    return run_cli([*base, *extra, app, out])


def _json(capsys: pytest.CaptureFixture[str], args: list[object]) -> tuple[int, dict]:  # type: ignore[type-arg]
    capsys.readouterr()
    code = run_cli([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("sign_key", "enc_key", "device_key", "extra", "tlv"),
    [
        ("p256", "p256_enc_pub", "p256_enc", [], "ENC_EC256"),
        ("p256", "p256_enc", "p256_enc", ["--encrypt-keylen", "256"], "ENC_EC256"),
        ("ed25519", "x25519_pub", "x25519", [], "ENC_X25519"),
        ("ed25519", "x25519_pub", "x25519", ["--hmac-sha", "512"], "ENC_X25519_SHA512"),
        ("rsa2048", "rsa2048_enc", "rsa2048_enc", [], "ENC_RSA2048"),
        ("p256", "kek128", "kek128", [], "ENC_KW"),
        ("p256", "kek256", "kek256", ["--encrypt-keylen", "256"], "ENC_KW"),
    ],
)
def test_sign_verify_decrypt_round_trip(
    keys: Keys,
    app: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sign_key: str,
    enc_key: str,
    device_key: str,
    extra: list[str],
    tlv: str,
) -> None:
    out = tmp_path / "signed.bin"
    k, e, d = getattr(keys, sign_key), getattr(keys, enc_key), getattr(keys, device_key)
    code, report = _json(
        capsys, ["sign", "-k", k, "-E", e, "-H", hex(HEADER), "-S", SLOT, "-v", "1.2.3", *extra,
                 app, out]
    )  # fmt: skip
    assert code == 0
    assert report["encryption"]["state"] == "ENCRYPTED"
    assert report["encryption"]["key_tlv"] == tlv

    code, verdict = _json(capsys, ["verify", out, "-k", k, "-E", d])
    assert code == 0
    assert verdict["encryption"] == "ENCRYPTED"
    assert verdict["payload_checked"] is True
    assert all(c["ok"] for c in verdict["checks"])

    # Without the device key: everything but the payload is checked; --strict fails.
    code, verdict = _json(capsys, ["verify", out, "-k", k])
    assert code == 0
    assert verdict["payload_checked"] is False
    assert run_cli(["verify", out, "-k", k, "--strict"]) == 1

    plain = tmp_path / "plain.bin"
    assert run_cli(["decrypt", out, "-E", d, "-o", plain]) == 0
    payload = app.read_bytes()[HEADER:]
    assert plain.read_bytes()[: len(payload)] == payload
    assert set(plain.read_bytes()[len(payload) :]) <= {0}

    # The --image form is a --clear image: rejected as an update, accepted in the primary slot.
    clear = tmp_path / "clear.bin"
    assert run_cli(["decrypt", out, "-E", d, "-o", clear, "--image"]) == 0
    code, verdict = _json(capsys, ["verify", clear, "-k", k, "-E", d])
    assert (code, verdict["encryption"]) == (1, "CLEAR")
    code, verdict = _json(capsys, ["verify", clear, "-k", k, "--slot", "primary"])
    assert (code, verdict["encryption"]) == (0, "CLEAR")


def test_unencrypted_image_and_require_encrypted(
    keys: Keys, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "signed.bin"
    assert _sign(keys, app, out, "-k", keys.p256) == 0
    capsys.readouterr()
    assert run_cli(["verify", out, "-k", keys.p256]) == 0
    text = capsys.readouterr().out
    assert "NOT ENCRYPTED" in text
    assert "ACCEPTED" in text
    assert run_cli(["verify", out, "-k", keys.p256, "--require-encrypted"]) == 1


def test_verify_rejects_wrong_key_and_corruption(
    keys: Keys, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "signed.bin"
    assert _sign(keys, app, out, "-k", keys.p256) == 0
    assert run_cli(["verify", out, "-k", keys.p384]) == 1
    data = bytearray(out.read_bytes())
    data[HEADER + 10] ^= 1
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    capsys.readouterr()
    assert run_cli(["verify", bad, "-k", keys.p256]) == 1
    assert "REJECTED" in capsys.readouterr().out
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\0" * 64)
    assert run_cli(["verify", garbage, "-k", keys.p256]) == 1


def test_clear_image_from_sign(keys: Keys, app: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "clear.bin"
    code, report = _json(
        capsys, ["sign", "-k", keys.p256, "-E", keys.p256_enc_pub, "--clear", "-H", hex(HEADER),
                 "-S", SLOT, "-v", "1.0.0", app, out]
    )  # fmt: skip
    assert (code, report["encryption"]["state"]) == (0, "CLEAR")
    assert run_cli(["verify", out, "-k", keys.p256, "--slot", "primary"]) == 0
    assert run_cli(["verify", out, "-k", keys.p256, "-E", keys.p256_enc]) == 1


def test_dev_keys_need_permission_and_warn_loudly(
    keys: Keys, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "signed.bin"
    sample = keys.sample("root-ec-p256.pem")
    assert _sign(keys, app, out, "-k", sample) == 2
    assert not out.exists()
    code, report = _json(
        capsys, ["sign", "-k", sample, "--allow-dev-keys", "-H", hex(HEADER), "-S", SLOT, "-v",
                 "1.0.0", app, out]
    )  # fmt: skip
    assert code == 0
    assert report["dev_keys"] == ["MCUboot sample key root-ec-p256.pem"]
    assert any("DEVELOPMENT KEY" in w for w in report["warnings"])
    capsys.readouterr()
    assert _sign(keys, app, out, "-k", sample, "--allow-dev-keys") == 0
    assert "DEVELOPMENT KEY" in capsys.readouterr().err


def test_unusual_pair_is_allowed_with_a_warning(
    keys: Keys, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "signed.bin"
    # imgtool refuses P-256 signing with X25519 encryption; bootutil can decode it.
    code, report = _json(
        capsys, ["sign", "-k", keys.p256, "-E", keys.x25519_pub, "-H", hex(HEADER), "-S", SLOT,
                 "-v", "1.0.0", app, out]
    )  # fmt: skip
    assert code == 0
    assert any("not a pair Zephyr's Kconfig offers" in w for w in report["warnings"])
    assert run_cli(["verify", out, "-k", keys.p256, "-E", keys.x25519]) == 0


def test_unsigned_encryption_only_when_allowed(keys: Keys, app: Path, tmp_path: Path) -> None:
    out = tmp_path / "unsigned.bin"
    assert _sign(keys, app, out, "-E", keys.p256_enc_pub) == 2
    assert _sign(keys, app, out, "-E", keys.p256_enc_pub, "--allow-unsigned") == 0
    assert run_cli(["verify", out, "-E", keys.p256_enc]) == 0


def test_hex_in_and_out_and_create_alias(keys: Keys, app: Path, tmp_path: Path) -> None:
    out_hex = tmp_path / "signed.hex"
    assert run_cli(["create", "-k", keys.ed25519, "-H", hex(HEADER), "-S", SLOT, "-v", "1.0.0",
                    "-x", "0x10000", "--pad", app, out_hex]) == 0  # fmt: skip
    assert out_hex.read_text().startswith(":")
    assert run_cli(["verify", out_hex, "-k", keys.ed25519]) == 0
    again = tmp_path / "again.bin"
    # The application as Intel HEX, as Zephyr writes zephyr.hex.
    app_hex = tmp_path / "app.hex"
    from intelhex import IntelHex

    ih = IntelHex()
    ih.frombytes(app.read_bytes(), offset=0x8000)
    ih.tofile(str(app_hex), "hex")
    assert run_cli(["sign", "-k", keys.ed25519, "-H", hex(HEADER), "-S", SLOT, "-v", "1.0.0",
                    app_hex, again]) == 0  # fmt: skip
    assert run_cli(["verify", again, "-k", keys.ed25519]) == 0


def test_offline_signing_flow(keys: Keys, app: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    digest = tmp_path / "digest.bin"
    base = ["sign", "-H", hex(HEADER), "-S", SLOT, "-v", "2.0.0"]
    assert run_cli([*base, "-k", keys.ed25519, "--vector-to-sign", "digest", app, digest]) == 0
    key = serialization.load_pem_private_key(keys.ed25519.read_bytes(), None)
    sig = tmp_path / "sig.b64"
    sig.write_bytes(base64.b64encode(key.sign(digest.read_bytes())))  # type: ignore[union-attr,call-arg]
    pub = tmp_path / "pub.pem"
    assert run_cli(["getpub", "-k", keys.ed25519, "-e", "pem", "-o", pub]) == 0
    out = tmp_path / "signed.bin"
    sig_out = tmp_path / "sig-out.b64"
    assert run_cli([*base, "--fix-sig", sig, "--fix-sig-pubkey", pub, "--sig-out", sig_out, app,
                    out]) == 0  # fmt: skip
    assert run_cli(["verify", out, "-k", pub]) == 0
    assert sig_out.read_bytes() == sig.read_bytes()


def test_vector_to_sign_takes_a_public_key(keys: Keys, app: Path, tmp_path: Path) -> None:
    """Offline signing keeps the private key away: a public -k gives the same vector."""
    base = ["sign", "-H", hex(HEADER), "-S", SLOT, "-v", "2.0.0", "--vector-to-sign", "digest"]
    assert run_cli([*base, "-k", keys.p256, app, tmp_path / "priv.bin"]) == 0
    pub = tmp_path / "pub.pem"
    assert run_cli(["getpub", "-k", keys.p256, "-e", "pem", "-o", pub]) == 0
    assert run_cli([*base, "-k", pub, app, tmp_path / "pub.bin"]) == 0
    assert (tmp_path / "pub.bin").read_bytes() == (tmp_path / "priv.bin").read_bytes()


def test_info_shows_header_tlvs_and_trailer(
    keys: Keys, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "signed.bin"
    assert _sign(keys, app, out, "-k", keys.p256, "-E", keys.p256_enc_pub, "--confirm", "-s",
                 "auto", "--custom-tlv", "0xa0", "hello") == 0  # fmt: skip
    code, info = _json(capsys, ["info", out])
    assert code == 0
    assert info["header"]["version"] == "1.2.3+4"
    assert info["header"]["flag_names"] == ["ENCRYPTED_AES128"]
    names = [t["name"] for t in info["tlvs"]]
    assert names == ["SEC_CNT", "0x00a0", "SHA256", "KEYHASH", "ECDSA_SIG", "ENC_EC256"]
    assert info["tlvs"][1]["decoded"] == "'hello'"
    assert info["trailer"]["confirmed"] is True
    assert info["payload"].startswith("ENCRYPTED")
    assert run_cli(["info", out]) == 0
    assert "ENC_EC256" in capsys.readouterr().out


def test_compression_and_missing_options_exit_2(keys: Keys, app: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.bin"
    assert _sign(keys, app, out, "-k", keys.p256, "--compression", "lzma2armthumb") == 2
    assert run_cli(["sign", "-k", keys.p256, app, out]) == 2  # -H, -S, -v are required
    assert not out.exists()


def test_console_script_subprocess(keys: Keys, app: Path, tmp_path: Path) -> None:
    out = tmp_path / "signed.bin"
    args = ["sign", "-k", str(keys.p256), "-H", hex(HEADER), "-S", SLOT, "-v", "1.0.0",
            str(app), str(out)]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "mcuseal", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "mcuseal", "verify", str(out), "-k", str(keys.p384)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "REJECTED" in done.stdout
    assert "Traceback" not in done.stderr


def test_markup_like_names_and_values_print_verbatim(
    keys: Keys, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A directory named "x[" makes "[/..." appear in paths, like a closing markup tag.
    odd = tmp_path / "x["
    odd.mkdir()
    out = odd / "x][bold].bin"
    key = odd / "red]k.pem"
    key.write_bytes(keys.p256.read_bytes())
    key.chmod(0o600)
    assert _sign(keys, app, out, "-k", key, "--custom-tlv", "0xa0", "[/oops]") == 0
    assert run_cli(["info", out]) == 0
    assert run_cli(["verify", out, "-k", key]) == 0
    assert run_cli(["decrypt", out, "-E", keys.p256_enc, "-o", odd / "p.bin"]) == 2
    text = capsys.readouterr().out
    assert "x[/x][bold].bin" in text
    assert "[/oops]" in text
    assert run_cli(["keygen", "-t", "ed25519", "-k", odd / "b]new.pem"]) == 0
    assert "x[/b]new.pem" in capsys.readouterr().out
