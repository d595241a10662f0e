"""The one source of randomness for engines (keys, IVs, nonces, padding).

Everything random in ``mcuseal.plugins`` goes through :func:`random_bytes`, which reads
the OS CSPRNG.  Tests pin it by monkeypatching this function; production code never
takes a seed.
"""

from __future__ import annotations

import os


def random_bytes(size: int) -> bytes:
    """*size* bytes from the OS CSPRNG."""
    return os.urandom(size)
