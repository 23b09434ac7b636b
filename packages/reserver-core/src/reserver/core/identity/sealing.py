"""Sealing: encrypt-then-MAC for small secrets the server must read back (TOTP secrets).

TOTP secrets cannot be hashed, so they are encrypted at rest (DESIGN.md invariant 6) with
the standard library only: a keystream of HMAC-SHA256(key, nonce || counter) blocks (a PRF in
counter mode) XORed with the secret, then an HMAC-SHA256 tag over nonce and ciphertext. The
encryption and MAC keys are derived per purpose from each server key. The first key seals;
every key unseals, so keys rotate like the signing keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from reserver.core.errors import ConfigurationError

_VERSION = "s1"
_NONCE = 16
_TAG = 32


def _derive(key: str, purpose: str, use: str) -> bytes:
    return hmac.new(
        key.encode("utf-8"), f"reserver.seal.{purpose}.{use}".encode(), "sha256"
    ).digest()


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (
        hmac.new(key, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        for counter in range((length + 31) // 32)
    )
    return b"".join(blocks)[:length]


class Sealer:
    """Seals and unseals short secrets for one purpose with the server's keys."""

    def __init__(self, keys: tuple[str, ...], purpose: str) -> None:
        if not keys:
            raise ConfigurationError("sealing needs at least one key")
        self._keys = [(_derive(k, purpose, "enc"), _derive(k, purpose, "mac")) for k in keys]

    def seal(self, secret: str) -> str:
        """Encrypt and authenticate ``secret`` with the first key."""
        enc, mac = self._keys[0]
        nonce = secrets.token_bytes(_NONCE)
        plain = secret.encode("utf-8")
        cipher = bytes(
            a ^ b for a, b in zip(plain, _keystream(enc, nonce, len(plain)), strict=True)
        )
        tag = hmac.new(mac, nonce + cipher, hashlib.sha256).digest()
        return f"{_VERSION}${base64.urlsafe_b64encode(nonce + cipher + tag).decode('ascii')}"

    def unseal(self, sealed: str) -> str | None:
        """The secret inside ``sealed``, or ``None`` if no key opens it (tampered, or key gone)."""
        version, _, body = sealed.partition("$")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
        except (binascii.Error, ValueError):
            return None
        if version != _VERSION or len(raw) < _NONCE + _TAG:
            return None
        nonce, cipher, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
        for enc, mac in self._keys:
            expected = hmac.new(mac, nonce + cipher, hashlib.sha256).digest()
            if hmac.compare_digest(expected, tag):
                stream = _keystream(enc, nonce, len(cipher))
                plain = bytes(a ^ b for a, b in zip(cipher, stream, strict=True))
                return plain.decode("utf-8")
        return None
