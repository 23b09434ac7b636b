"""TOTP (RFC 6238) with pyotp, a replay guard by time step, and backup codes.

A code is accepted for the current 30-second step or one step either side (clock drift), and
only for a step later than the last one accepted: the same code never works twice, and after
a code of step N no code of step N or earlier does either.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

import pyotp

from reserver.core.identity.tokens import digest

DRIFT_STEPS = 1
BACKUP_CODES = 10
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to copy by hand
_BACKUP_LENGTH = 16  # about 79 bits


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI that authenticator apps read from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step that ``code`` belongs to, if it is valid now and newer than ``last_step``."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Check every step, so the time taken does not tell which one matched.
        if hmac.compare_digest(totp.generate_otp(step), code) and (
            last_step is None or step > last_step
        ):
            found = step
    return found


def code_at(secret: str, when: datetime) -> str:
    """The code an authenticator shows at ``when`` (tests and command-line tools)."""
    return pyotp.TOTP(secret).at(when)


def new_backup_codes() -> tuple[str, ...]:
    """Ten fresh single-use backup codes, formatted ``xxxx-xxxx-xxxx-xxxx``."""
    codes = []
    for _ in range(BACKUP_CODES):
        raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(_BACKUP_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, _BACKUP_LENGTH, 4)))
    return tuple(codes)


def backup_digest(user_id: str, code: str) -> str:
    """The stored form of a backup code: bound to its user, tolerant of case and dashes."""
    normalized = code.strip().lower().replace("-", "").replace(" ", "")
    return digest(f"{user_id}:{normalized}")


def looks_like_backup_code(code: str) -> bool:
    """Whether ``code`` has the shape of a backup code rather than a TOTP code."""
    return len(code.strip().replace("-", "").replace(" ", "")) == _BACKUP_LENGTH
