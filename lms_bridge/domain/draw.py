"""Verifiable ticket draw (issue 3, Build §3.4).

Before the sitting the secretary's system makes a random *seed* and publishes only its
*commitment* (SHA-256 of the seed).  After the sitting the seed is revealed, and anyone holding the
public draw record can recompute every ticket and check that the seed matches the commitment.
See ``docs/draw.md`` for the full procedure.
"""

from __future__ import annotations

import hashlib
import secrets

SEED_BYTES = 32


def new_seed() -> str:
    """A fresh 256-bit seed as 64 lower-case hex characters (from :mod:`secrets`, not :mod:`random`)."""
    return secrets.token_hex(SEED_BYTES)


def commitment(seed: str) -> str:
    """The public commitment to ``seed``: lower-case hex SHA-256 of the seed's UTF-8 bytes.

    The seed string itself (the hex text, not the bytes it spells) is hashed, so that a person can
    check it with ``printf %s SEED | sha256sum``.
    """
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()
