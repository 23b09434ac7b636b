"""Backoff against password guessing that an attacker cannot turn into a lockout.

Three keys slow failed log-ins (and failed second factors):

- per (account, client address): 5 free failures, then each further one doubles the wait up
  to 15 minutes. This is what stops one address guessing one account.
- per client address: 20 free failures across all accounts, then the same backoff (password
  spraying from one address).
- per account, across addresses: 10 free failures in 15 minutes, then doubling waits capped
  at one minute. It slows guessing from many addresses, and an attacker can make a victim
  wait at most this cap.

A wait always runs from the latest failure and ends by itself: nothing locks an account for
good (W-22). Attempts refused during a wait are not failures, so hammering does not extend
it, and they are refused before the password is checked, so a right password during a wait
is refused too (it would otherwise tell a guesser when they hit). A success clears the
(account, client) and account keys. Unknown usernames are throttled like known ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reserver.core.ports import Transaction
from reserver.core.settings import IdentitySettings, ThrottleRule


def _client(client: str | None) -> str:
    return (client or "unknown").strip().lower()


class LoginThrottle:
    """Decides when the next attempt for an account from a client may run."""

    def __init__(self, settings: IdentitySettings) -> None:
        self._settings = settings

    def keys(self, username: str, client: str | None) -> list[tuple[str, ThrottleRule]]:
        """The throttle keys of an attempt, each with its rule.

        Without a client address (a re-check of a logged-in user's password) there is no
        per-client key: one shared "unknown" key would let anyone slow everyone.
        """
        account, address = username.strip().lower(), _client(client)
        keys = [
            (f"login:pair:{account}|{address}", self._settings.throttle_account_client),
            (f"login:account:{account}", self._settings.throttle_account),
        ]
        if client is not None:
            keys.append((f"login:client:{address}", self._settings.throttle_client))
        return keys

    def wait(self, tx: Transaction, username: str, client: str | None, now: datetime) -> timedelta:
        """How long the attempt must wait (zero when it may run now)."""
        longest = timedelta(0)
        for key, rule in self.keys(username, client):
            failures = tx.identity.throttle.failures_since(key, now - rule.window)
            if failures:
                until = failures[-1] + rule.delay(len(failures))
                longest = max(longest, until - now)
        return longest

    def failed(self, tx: Transaction, username: str, client: str | None, now: datetime) -> None:
        """Record a failed attempt under every key."""
        for key, _ in self.keys(username, client):
            tx.identity.throttle.record(key, now)

    def succeeded(self, tx: Transaction, username: str, client: str | None) -> None:
        """Forget the account's failures (those of the address against other accounts stay)."""
        pair, account = self.keys(username, client)[:2]
        tx.identity.throttle.clear(pair[0])
        tx.identity.throttle.clear(account[0])
