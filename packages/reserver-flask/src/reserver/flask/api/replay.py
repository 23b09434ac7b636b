"""Run a create under its ``Idempotency-Key``: the first answer is stored and replayed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from werkzeug.exceptions import Conflict, UnprocessableEntity

from flask import Response, request
from reserver.flask.idempotency import MAX_KEY, IdempotencyError, StoredResponse
from reserver.flask.services import current_services

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEPT_HEADERS = ("Location", "ETag")


def fingerprint() -> str:
    """What makes two requests the same: method, path, query and body bytes."""
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(request.get_data())
    return digest.hexdigest()


def idempotency_key() -> str | None:
    """The request's ``Idempotency-Key``, checked for size.

    Raises:
        UnprocessableEntity: the key is empty or longer than 200 characters.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise UnprocessableEntity(f"{HEADER} must be 1 to {MAX_KEY} printable characters")
    return key


def run_once(owner: str, key: str, run: Callable[[], Response]) -> Response:
    """Answer with the stored response for ``key``, or run the request and store its answer.

    A 5xx answer or an exception releases the key, so a retry runs again.

    Raises:
        Conflict: a request with this key is still running (409).
        UnprocessableEntity: the key was used for another request (422).
    """
    services = current_services()
    store = services.idempotency
    try:
        stored = store.begin(owner, key, fingerprint(), services.reserver.clock.now())
    except IdempotencyError as exc:
        if exc.in_progress:
            raise Conflict(str(exc)) from exc
        raise UnprocessableEntity(str(exc)) from exc
    if stored is not None:
        response = Response(stored.body, status=stored.status, content_type=stored.content_type)
        response.headers.update(dict(stored.headers))
        response.headers[REPLAYED] = "true"
        return response
    try:
        response = run()
    except BaseException:
        store.abandon(owner, key)
        raise
    if response.status_code >= 500:
        store.abandon(owner, key)
        return response
    kept = tuple((h, response.headers[h]) for h in _KEPT_HEADERS if h in response.headers)
    store.finish(
        owner,
        key,
        StoredResponse(
            response.status_code, response.get_data(), response.content_type or "", kept
        ),
    )
    return response
