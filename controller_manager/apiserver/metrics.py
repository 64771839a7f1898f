"""The API server's own Prometheus metrics, on a registry per instance.

Never the global registry: tests and the manager run several servers and
runtimes in one process, and each must scrape only its own numbers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

STATUS_RESULTS = ("ok", "noop", "conflict", "not_found", "forbidden")


class Metrics:
    """Counters named `gitstore_api_*`; `render()` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.subscriptions = Counter(
            "gitstore_api_subscriptions_opened_total",
            "Watch streams opened, by kind and whether they resumed from a cursor.",
            ["kind", "resumed"],
            registry=r,
        )
        self.lists = Counter(
            "gitstore_api_lists_total",
            "List requests (first pages of the resources query), by kind.",
            ["kind"],
            registry=r,
        )
        self.watch_expired = Counter(
            "gitstore_api_watch_expired_total",
            "Watches answered with WATCH_EXPIRED.",
            ["kind"],
            registry=r,
        )
        self.slow_consumers = Counter(
            "gitstore_api_slow_consumer_cuts_total",
            "Watch streams cut with SLOW_CONSUMER.",
            ["kind"],
            registry=r,
        )
        self.status_writes = Counter(
            "gitstore_api_status_writes_total",
            "updateResourceStatus calls by kind and result.",
            ["kind", "result"],
            registry=r,
        )
        self.events = Counter(
            "gitstore_api_events_published_total",
            "Watch events published (before filtering), by kind.",
            ["kind"],
            registry=r,
        )
        self.open_streams = Gauge(
            "gitstore_api_open_streams", "Watch streams currently open.", registry=r
        )
        self.git_commits = Counter(
            "gitstore_api_git_commits_total",
            "Git commits seen by the poller, by admission result.",
            ["result"],
            registry=r,
        )

        self.injected_failures = Counter(
            "gitstore_api_injected_failures_total",
            "Requests failed by fault injection, by operation and contract code.",
            ["operation", "code"],
            registry=r,
        )
        self.poisoned_events = Counter(
            "gitstore_api_poisoned_events_sent_total",
            "Malformed watch frames sent in place of a poisoned event, by kind and shape.",
            ["kind", "shape"],
            registry=r,
        )
        self.inflight_requests = Gauge(
            "gitstore_api_inflight_requests",
            "Requests being served (streams excluded), all principals.",
            registry=r,
        )
        self.rejected = Counter(
            "gitstore_api_requests_rejected_total",
            "Requests refused by a limit, by limit name (e.g. max_body_bytes).",
            ["limit"],
            registry=r,
        )
        self.admissions_in_progress = Gauge(
            "gitstore_api_admissions_in_progress",
            "/admin/apply batches being parsed and admitted (off the event loop).",
            registry=r,
        )
        self.query_cache_bytes = Gauge(
            "gitstore_api_query_cache_bytes",
            "Total length of the query texts keying the parsed-document cache.",
            registry=r,
        )

    def event_published(self, kind: str) -> None:
        """Store hook: one event logged for `kind`."""
        self.events.labels(kind).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
