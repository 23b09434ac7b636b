"""Password hashing with scrypt from the standard library.

A hash reads ``scrypt$n=8192,r=8,p=10$<salt>$<key>`` (salt and key in unpadded base64), so it
carries its own parameters: old hashes keep verifying after the parameters change, and
``needs_rehash`` tells the caller to store a fresh one at the next successful login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

import attrs

from reserver.core.errors import ConfigurationError

SCHEME = "scrypt"
# Stored hashes are trusted only so far: a tampered row must not make verify eat the machine.
MAX_N, MAX_R, MAX_P = 2**20, 32, 16
_SLACK = 1 << 20


@attrs.frozen
class _Parameters:
    n: int
    r: int
    p: int
    key_bytes: int

    def problem(self) -> str | None:
        """Why these parameters are unusable, or ``None`` if they are fine."""
        if self.n < 2 or self.n & (self.n - 1) or self.n > MAX_N:
            return f"n must be a power of two from 2 to {MAX_N}, got {self.n}"
        if not 1 <= self.r <= MAX_R:
            return f"r must be 1 to {MAX_R}, got {self.r}"
        if not 1 <= self.p <= MAX_P:
            return f"p must be 1 to {MAX_P}, got {self.p}"
        if not 16 <= self.key_bytes <= 64:
            return f"key_bytes must be 16 to 64, got {self.key_bytes}"
        return None

    def derive(self, secret: str, salt: bytes) -> bytes:
        return hashlib.scrypt(
            secret.encode("utf-8"),
            salt=salt,
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=128 * self.r * (self.n + self.p + 2) + _SLACK,
            dklen=self.key_bytes,
        )


@attrs.frozen
class _Parsed:
    parameters: _Parameters
    salt: bytes
    key: bytes


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _parse(hashed: str) -> _Parsed | None:
    """Read a stored hash; ``None`` if it is not one of ours or is out of bounds."""
    try:
        scheme, params, salt, key = hashed.split("$")
        fields = dict(item.split("=", 1) for item in params.split(","))
        if scheme != SCHEME or fields.keys() != {"n", "r", "p"}:
            return None
        raw_key = _b64decode(key)
        parameters = _Parameters(int(fields["n"]), int(fields["r"]), int(fields["p"]), len(raw_key))
        parsed = _Parsed(parameters, _b64decode(salt), raw_key)
    except (ValueError, binascii.Error):
        return None
    if parameters.problem() is not None or not parsed.salt:
        return None
    return parsed


class ScryptPasswordHasher:
    """PasswordHasher on ``hashlib.scrypt``; the defaults follow OWASP (N=2^13, r=8, p=10).

    OWASP rates it as strong as N=2^15, r=8, p=3 but it needs 8 MiB per hash instead of 32, so
    a server worker stays small while several people sign in at once (bench/RESULTS.md); older
    hashes are upgraded at the next sign-in (``needs_rehash``).

    Tests pass cheap parameters, e.g. ``ScryptPasswordHasher(n=16, r=1, p=1)``.
    """

    def __init__(
        self, *, n: int = 2**13, r: int = 8, p: int = 10, salt_bytes: int = 16, key_bytes: int = 32
    ) -> None:
        self._parameters = _Parameters(n, r, p, key_bytes)
        problem = self._parameters.problem()
        if problem is not None:
            raise ConfigurationError(f"scrypt parameters: {problem}")
        if salt_bytes < 16:
            raise ConfigurationError(
                f"scrypt parameters: salt_bytes must be 16 or more, got {salt_bytes}"
            )
        self._salt_bytes = salt_bytes

    def hash(self, secret: str) -> str:
        """Return a fresh salted hash of ``secret`` that names its own parameters."""
        salt = secrets.token_bytes(self._salt_bytes)
        key = self._parameters.derive(secret, salt)
        params = self._parameters
        return (
            f"{SCHEME}$n={params.n},r={params.r},p={params.p}${_b64encode(salt)}${_b64encode(key)}"
        )

    def verify(self, secret: str, hashed: str) -> bool:
        """Whether ``secret`` matches ``hashed``; an unreadable hash matches nothing."""
        parsed = _parse(hashed)
        if parsed is None:
            return False
        candidate = parsed.parameters.derive(secret, parsed.salt)
        return hmac.compare_digest(candidate, parsed.key)

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with other parameters (or cannot be read at all)."""
        parsed = _parse(hashed)
        return (
            parsed is None
            or parsed.parameters != self._parameters
            or len(parsed.salt) < self._salt_bytes
        )


if TYPE_CHECKING:
    from reserver.core.ports import PasswordHasher

    _: type[PasswordHasher] = ScryptPasswordHasher
