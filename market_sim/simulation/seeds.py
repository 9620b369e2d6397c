"""Deterministic seed derivation: every component gets its own stream, independent of Python's hash salt."""

from __future__ import annotations

import hashlib

__all__ = ["derive_seed"]


def derive_seed(seed: int, *labels: object) -> int:
    """A 64-bit seed derived from the run seed and labels (e.g. derive_seed(7, 'agent', 'noise-3'))."""
    text = "\x1f".join([str(seed), *map(str, labels)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")
