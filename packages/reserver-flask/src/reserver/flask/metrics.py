"""Prometheus metrics of one app: requests by route template, latency, bookings, refusals.

Also the requests dispatched again because the storage's caches changed under them.

Routes are labelled by their template (``/api/v1/resources/<resource_id>``), never by the raw
path, so the number of series stays bounded whatever clients send. Each app has its own
registry. Under several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` (which ``reserver-serve``
sets) makes every worker count into files there, and ``/metrics`` answers with the sum over
all of them, whichever worker serves it. prometheus_client reads that variable when it is first
imported, so this module imports it only when an app is built: after gunicorn forks.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, request
from reserver.core.errors import ConflictError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

EXTENSION = "reserver.metrics"
UNMATCHED = "<unmatched>"
_STARTED = "reserver.started"


class Metrics:
    """The collectors of one app."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reserver_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "reserver_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.bookings = Counter(
            "reserver_bookings",
            "Reservations made through the API, by kind of booking.",
            ["kind"],
            registry=self.registry,
        )
        self.conflicts = Counter(
            "reserver_conflicts",
            "Requests refused with 409, by broken rule (or 'state' for other conflicts).",
            ["rule"],
            registry=self.registry,
        )
        self.reruns = Counter(
            "reserver_http_request_reruns",
            "Requests dispatched again because the storage's caches changed under them.",
            registry=self.registry,
        )


def _current() -> Metrics | None:
    found = current_app.extensions.get(EXTENSION)
    return found if isinstance(found, Metrics) else None


def booked(kind: str, count: int) -> None:
    """Count ``count`` reservations made by one booking of ``kind``."""
    metrics = _current()
    if metrics is not None:
        metrics.bookings.labels(kind).inc(count)


def refused(error: ConflictError) -> None:
    """Count a 409 refusal under each rule it names."""
    metrics = _current()
    if metrics is not None:
        for rule in sorted(str(r) for r in error.rules) or ["state"]:
            metrics.conflicts.labels(rule).inc()


def rerun() -> None:
    """Count a request dispatched again (``reserver.flask.app``)."""
    metrics = _current()
    if metrics is not None:
        metrics.reruns.inc()


def _start() -> None:
    # In the request's environ, not ``g``: a request dispatched again keeps its first start.
    request.environ.setdefault(_STARTED, time.perf_counter())


def _finish(response: Response) -> Response:
    metrics = _current()
    started = request.environ.get(_STARTED)
    if metrics is None or started is None:
        return response
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    metrics.requests.labels(request.method, route, str(response.status_code)).inc()
    metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
    return response


def exposition() -> Response:
    """The app's metrics (every worker's, in multiprocess mode) in the Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    metrics = _current()
    if metrics is None:
        return Response(b"", content_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(_registry(metrics)), content_type=CONTENT_TYPE_LATEST)


def _registry(metrics: Metrics) -> CollectorRegistry:
    if not os.environ.get(MULTIPROCESS_DIR):
        return metrics.registry
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    combined = CollectorRegistry()
    MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return combined


def install(app: Flask) -> None:
    """Give ``app`` its own collectors and time every request."""
    app.extensions[EXTENSION] = Metrics()
    app.before_request(_start)
    app.after_request(_finish)
