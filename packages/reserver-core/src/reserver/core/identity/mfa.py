"""Two-factor enrolment and management: TOTP with backup codes.

Enrolment stores a sealed secret as pending; the first valid code confirms it, turns MFA on,
and returns ten backup codes (shown once, stored as digests). Turning MFA off needs the
password and a code; new backup codes need a TOTP code.
"""

from __future__ import annotations

import attrs

from reserver.core.errors import (
    AuthenticationError,
    ConflictError,
    ValidationError,
)
from reserver.core.events import MfaChanged
from reserver.core.identity import totp
from reserver.core.identity.accounts import AccountService
from reserver.core.identity.commands import MfaEnrolment
from reserver.core.identity.kit import IdentityKit, require_full_session
from reserver.core.identity.models import User
from reserver.core.ports import Transaction
from reserver.core.principals import Principal


class MfaService:
    """TOTP enrolment, backup codes and turning MFA off; exposed on ``r.identity``."""

    def __init__(self, kit: IdentityKit, accounts: AccountService) -> None:
        self._kit = kit
        self._ctx = kit.ctx
        self._accounts = accounts

    def enrol(self, principal: Principal) -> MfaEnrolment:
        """Start enrolment: a new secret to show as a QR code (``otpauth_uri``) and as text.

        Raises:
            ConflictError: MFA is already on (turn it off first).
        """
        require_full_session(principal, "set up two-factor log-in")
        secret = totp.new_secret()
        with self._ctx.storage.transaction() as tx:
            current = tx.identity.users.get(principal.id)
            if current.mfa_enabled:
                raise ConflictError("two-factor log-in is already on")
            pending = attrs.evolve(
                current, totp_pending=self._kit.sealer.seal(secret), version=current.version + 1
            )
            tx.identity.users.update(pending, expected_version=current.version)
            self._ctx.emit(tx, MfaChanged, principal.id, user_id=principal.id, change="enrolled")
            uri = totp.provisioning_uri(secret, current.username, self._kit.settings.issuer)
            return MfaEnrolment(secret, uri)

    def confirm(self, principal: Principal, code: str) -> tuple[str, ...]:
        """Turn MFA on with the first code from the app; returns ten backup codes, shown once.

        Raises:
            ConflictError: there is no pending enrolment.
            ValidationError: the code is wrong.
        """
        require_full_session(principal, "set up two-factor log-in")
        codes = totp.new_backup_codes()
        with self._ctx.storage.transaction() as tx:
            current = tx.identity.users.get(principal.id)
            secret = self._kit.sealer.unseal(current.totp_pending or "")
            if secret is None:
                raise ConflictError("start two-factor enrolment first")
            step = totp.matching_step(secret, str(code), self._ctx.now(), None)
            if step is None:
                raise ValidationError.for_field("code", "is wrong or expired")
            enabled = attrs.evolve(
                current,
                totp_sealed=current.totp_pending,
                totp_pending=None,
                totp_last_step=step,
                version=current.version + 1,
            )
            tx.identity.users.update(enabled, expected_version=current.version)
            self._store_codes(tx, current, codes)
            self._ctx.emit(tx, MfaChanged, principal.id, user_id=principal.id, change="enabled")
        return codes

    def disable(
        self, principal: Principal, password: str, code: str, *, client: str | None = None
    ) -> None:
        """Turn MFA off; needs the password and a TOTP or backup code.

        Raises:
            AuthenticationError: the password or the code is wrong.
            ConflictError: MFA is off.
        """
        require_full_session(principal, "turn two-factor log-in off")
        user = self._enabled_user(principal)
        self._accounts.verify_password(user, password, client=client)
        with self._ctx.storage.transaction() as tx:
            current = self._spend(tx, user, str(code), backup_ok=True)
            off = attrs.evolve(
                current,
                totp_sealed=None,
                totp_pending=None,
                totp_last_step=None,
                version=current.version + 1,
            )
            tx.identity.users.update(off, expected_version=current.version)
            tx.identity.mfa.replace(user.id, ())
            self._ctx.emit(tx, MfaChanged, principal.id, user_id=principal.id, change="disabled")

    def regenerate_codes(self, principal: Principal, code: str) -> tuple[str, ...]:
        """Replace the backup codes (the old ones stop working); needs a TOTP code."""
        require_full_session(principal, "replace backup codes")
        user = self._enabled_user(principal)
        codes = totp.new_backup_codes()
        with self._ctx.storage.transaction() as tx:
            current = self._spend(tx, user, str(code), backup_ok=False)
            self._store_codes(tx, current, codes)
            self._ctx.emit(
                tx, MfaChanged, principal.id, user_id=principal.id, change="codes_regenerated"
            )
        return codes

    def remaining_codes(self, principal: Principal) -> int:
        """How many unused backup codes the user has left."""
        with self._ctx.storage.transaction(readonly=True) as tx:
            return tx.identity.mfa.remaining(principal.id)

    def _enabled_user(self, principal: Principal) -> User:
        with self._ctx.storage.transaction(readonly=True) as tx:
            user = tx.identity.users.get(principal.id)
        if not user.mfa_enabled:
            raise ConflictError("two-factor log-in is off")
        return user

    def _spend(self, tx: Transaction, user: User, code: str, *, backup_ok: bool) -> User:
        """Accept ``code`` once inside ``tx``; return the user as stored after it."""
        current = tx.identity.users.get(user.id)
        if backup_ok and totp.looks_like_backup_code(code):
            if tx.identity.mfa.use(user.id, totp.backup_digest(user.id, code), self._ctx.now()):
                return current
            raise AuthenticationError("the code is wrong or used")
        return self._kit.spend_totp(tx, current, code, self._ctx.now())

    @staticmethod
    def _store_codes(tx: Transaction, user: User, codes: tuple[str, ...]) -> None:
        tx.identity.mfa.replace(user.id, [totp.backup_digest(user.id, c) for c in codes])
