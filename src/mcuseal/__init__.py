"""mcuseal: encrypted firmware updates for MCUboot devices, end to end.

The public API is re-exported here; everything else is internal.  Importing
``mcuseal`` stays cheap (no cryptography, no asyncio) so ``mcuseal --version`` starts fast.
"""

from __future__ import annotations

from mcuseal.errors import McusealError

__version__ = "0.1.0"

__all__ = ["McusealError", "__version__"]
