"""Reads the local S3 stand-in's request/byte counters (MASTFS_STANDIN_URL).

The stand-in answers `POST $URL/_standin/reset` and `GET $URL/_standin/stats`, the latter
with JSON like {"requests": {"get": N, "head": N, "list": N, ...}, "get_body_bytes": N,
"body_bytes_sent": N, ...}. Everything that knows that shape is in `parse_stats`, so a
change on the server side is a change here only.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field

# Accepted spellings of each counter, first match wins.
REQUEST_ALIASES = {
    "get": ("get", "get_object", "getobject"),
    "head": ("head", "head_object", "headobject"),
    "list": ("list", "list_objects", "list_objects_v2", "listobjectsv2"),
}
BYTES_ALIASES = ("get_body_bytes", "body_bytes_sent", "bytes_sent")


@dataclass(frozen=True)
class Counters:
    get: int
    head: int
    list: int
    bytes_fetched: int
    raw: dict = field(repr=False)

    def describe(self) -> str:
        return f"get={self.get} head={self.head} list={self.list} bytes_fetched={self.bytes_fetched}"


def _lookup(mapping: dict, aliases) -> int | None:
    lowered = {str(k).lower(): v for k, v in mapping.items()}
    for alias in aliases:
        value = lowered.get(alias)
        if isinstance(value, (int, float)):
            return int(value)
    return None


def parse_stats(stats: dict) -> Counters:
    requests = stats.get("requests") if isinstance(stats.get("requests"), dict) else stats
    counts = {}
    for name, aliases in REQUEST_ALIASES.items():
        value = _lookup(requests, aliases)
        if value is None:
            value = _lookup(stats, aliases)
        if value is None:
            raise AssertionError(f"stand-in stats have no '{name}' request counter: {stats}")
        counts[name] = value
    bytes_fetched = _lookup(stats, BYTES_ALIASES)
    if bytes_fetched is None:
        raise AssertionError(f"stand-in stats have no body byte counter ({', '.join(BYTES_ALIASES)}): {stats}")
    return Counters(bytes_fetched=bytes_fetched, raw=stats, **counts)


class Standin:
    """Counter access for one test; `enabled` is False when no stand-in URL is configured."""

    def __init__(self, url: str | None):
        self.url = url.rstrip("/") if url else None

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_standin/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status // 100 != 2:
                raise AssertionError(f"POST {self.url}/_standin/reset: expected 2xx, got {response.status}")

    def stats(self) -> Counters:
        with urllib.request.urlopen(f"{self.url}/_standin/stats", timeout=10) as response:
            return parse_stats(json.load(response))

    def assert_at_most(
        self,
        what: str,
        *,
        bytes_fetched: int | None = None,
        get: int | None = None,
        head: int | None = None,
        list: int | None = None,
    ) -> Counters | None:  # noqa: A002
        """Asserts upper bounds on the counters since the reset; no-op without a stand-in."""
        if not self.enabled:
            return None
        counters = self.stats()
        limits = {"bytes_fetched": bytes_fetched, "get": get, "head": head, "list": list}
        over = [
            f"{name}: expected <= {limit}, got {getattr(counters, name)}"
            for name, limit in limits.items()
            if limit is not None and getattr(counters, name) > limit
        ]
        assert not over, f"{what}: " + "; ".join(over) + f" (all: {counters.describe()})"
        return counters
