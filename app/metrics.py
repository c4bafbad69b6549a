"""Prometheus metrics of the service (exposed at GET /metrics)."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.0)


class ServiceMetrics:
    """One registry per app, so tests and reloads never collide on global metric names."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("recsys_requests_total", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("recsys_request_seconds", "HTTP request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.stages = Histogram("recsys_stage_seconds", "time per pipeline stage (queue wait, model stages, "
                                "serialization); model stages are per batch", ["endpoint", "stage"],
                                buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("recsys_batch_size", "requests merged into one model batch", ["endpoint"],
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=self.registry)
        self.strategy = Counter("recsys_recommendations_total", "responses by endpoint and strategy",
                                ["endpoint", "strategy"], registry=self.registry)
        self.model_restarts = Counter("recsys_model_process_restarts_total", "model processes killed and "
                                      "replaced (dead or hung)", registry=self.registry)
        self.model_versions = Gauge("recsys_model_versions_loaded", "versions the model process holds (current, "
                                    "and retired ones still answering requests)", registry=self.registry)

        self._children: dict[tuple, Histogram | Counter] = {}

    def _child(self, metric: Histogram | Counter, *labels: str) -> Histogram | Counter:
        """``metric.labels(...)``, memoized: the lookup takes a lock and builds a key on every call,
        and these run several times per request."""
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, endpoint: str, stages: dict[str, float], batch_size: int) -> None:
        for stage, seconds in stages.items():
            self._child(self.stages, endpoint, stage).observe(seconds)
        self._child(self.batch_size, endpoint).observe(batch_size)

    def count_strategy(self, endpoint: str, strategy: str) -> None:
        self._child(self.strategy, endpoint, strategy).inc()

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self._child(self.latency, route).observe(seconds)
        self._child(self.requests, route, str(status)).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Request count and latency per route template, as plain ASGI: Starlette's ``@app.middleware("http")``
    (BaseHTTPMiddleware) halved a trivial endpoint's throughput in the serving benchmark."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")  # set by the router once it matched
            name = route.path if route is not None else "unmatched"
            self.metrics.observe_request(name, status, time.perf_counter() - started)
