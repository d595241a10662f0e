"""Fingerprints of the keys in ``samples/keys/`` (generated for the synthetic samples).

They are as public as MCUboot's own samples, so ``mcuseal seal`` refuses them like
:mod:`mcuseal.keys.devkeys` refuses MCUboot's, unless ``--allow-dev-keys``.  The list
lives here rather than in the shared denylist because only the build samples use them;
``tests/build/test_seal.py`` recomputes every entry from the files.
"""

from __future__ import annotations

SAMPLE_KEY_FINGERPRINTS: dict[str, str] = {
    "2858cffeed37b0cde0157a4ceca9aeee09f83b09384a0444d4effbf769d5b29c": (
        "mcuseal sample key samples/keys/sample-sign-ec-p256.pem"
    ),
    "f073c117ec66af6962aff75375710366d49b0557bb5c7134328a9ed176f120e0": (
        "mcuseal sample key samples/keys/sample-enc-ec256-priv.pem"
    ),
    "dcce73f38f1743c5dc24456b2b2c508562d14d9d12ae35943e6e2b81042c7194": (
        "mcuseal sample key samples/keys/sample-sign-ed25519.pem"
    ),
    "a2dfb8eb3872160c7d94fd793326a990dd0f1e255cf6a24d87e8a89dd6c37c91": (
        "mcuseal sample key samples/keys/sample-enc-x25519-priv.pem"
    ),
}
