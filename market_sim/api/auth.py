"""Bearer tokens with roles, and per-token rate limits.

Roles: `read` (every GET route and the public streams), `trader` (read, plus trading on the one account the token
is bound to, and that account's order stream), `admin` (everything: starting, pausing, stepping and stopping
simulations, trading on any account).

A token file has one token per line, `TOKEN ROLE [ACCOUNT]` (ACCOUNT only, and always, for `trader`); blank lines
and lines starting with `#` are skipped. Tokens are kept only as SHA-256 digests and compared in constant time; they
are never logged and never accepted in a URL (only the `Authorization: Bearer` header, or a WebSocket's first
message).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from market_sim.core.errors import ConfigError

__all__ = ["Role", "Principal", "TokenStore", "RateLimiter", "new_token"]


class Role(StrEnum):
    READ = "read"
    TRADER = "trader"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is: the token's role, its bound account (traders) and a stable key for rate limiting (a
    prefix of the token's digest, never the token)."""

    role: Role
    account: str | None
    key: str

    def may_trade(self, account: str) -> bool:
        return self.role is Role.ADMIN or (self.role is Role.TRADER and self.account == account)


def new_token() -> str:
    """A fresh random token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenStore:
    """Token digests -> principals."""

    def __init__(self, entries: Iterable[tuple[str, Role | str, str | None]] = ()) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        for token, role, account in entries:
            self.add(token, role, account)

    def add(self, token: str, role: Role | str, account: str | None = None) -> Principal:
        try:
            role = Role(role)
        except ValueError:
            raise ConfigError(f"unknown token role; roles: {', '.join(r.value for r in Role)}", key="role",
                              value=str(role)) from None
        if len(token) < 16:
            raise ConfigError("a token needs at least 16 characters", key="token", value="<hidden>")
        if (role is Role.TRADER) != bool(account):
            raise ConfigError("a trader token is bound to exactly one account (and only a trader token)",
                              key="account", value=account)
        digest = _digest(token)
        principal = Principal(role, account or None, digest[:8].hex())
        self._by_digest[digest] = principal
        return principal

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, token: str | None) -> Principal | None:
        """The principal of a token, or None (constant-time comparison against every known digest)."""
        if not token:
            return None
        digest = _digest(token)
        found = None
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                found = principal
        return found

    @classmethod
    def from_file(cls, path: str | Path) -> "TokenStore":
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read the token file: {exc.strerror or exc}", key="--token-file",
                              value=str(p)) from None
        store = cls()
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) not in (2, 3):
                raise ConfigError(f"{p} line {n}: expected `TOKEN ROLE [ACCOUNT]`", key="--token-file",
                                  value=str(p))
            try:
                store.add(parts[0], parts[1], parts[2] if len(parts) == 3 else None)
            except ConfigError as exc:
                raise ConfigError(f"{p} line {n}: {exc}", key="--token-file", value=str(p)) from None
        if not store:
            raise ConfigError("the token file holds no token", key="--token-file", value=str(p))
        return store


class RateLimiter:
    """A token bucket per principal key: `rate` requests per second on average, bursts of up to `burst`.
    `clock` returns seconds (monotonic by default)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0 or burst < 1:
            raise ConfigError("a rate limit needs rate > 0 and burst >= 1", key="rate_limit", value=(rate, burst))
        self.rate, self.burst, self.clock = float(rate), int(burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one request for `key`: 0.0 if allowed, else the seconds until one is available."""
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
