"""Prometheus metrics, defined once; the web layer only exposes them."""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from o2o.config import Settings

REQUEST_LATENCY = Histogram(
    "o2o_http_request_seconds", "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WECHAT_REPLIES = Counter("o2o_wechat_replies_total", "WeChat replies by type", ["type"])
WECHAT_REJECTED = Counter("o2o_wechat_rejected_total", "WeChat requests refused", ["reason"])
INDEX_SIZE = Gauge("o2o_index_outlets", "Outlets in this worker's nearest index")
INDEX_AGE = Gauge("o2o_index_age_seconds", "Seconds since this worker's index last synced")
INDEX_VERSION = Gauge("o2o_catalog_seq", "Last catalog change applied by this worker")
CATALOG_ROWS_SKIPPED = Counter(
    "o2o_catalog_rows_skipped_total",
    "Stored rows this worker could not serve and left out of its live catalog (each row "
    "and reason counted once), by entity", ["entity"])
WRITE_BATCH_SIZE = Histogram(
    "o2o_write_batch_size", "Writes committed together by the reply path's group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024),
)
WRITES_FAILED = Counter("o2o_writes_failed_total",
                        "Reply-path writes that could not be committed, by kind", ["kind"])
WECHAT_WRITE_WAIT_EXPIRED = Counter(
    "o2o_wechat_write_wait_expired_total",
    "WeChat replies sent before their writes were committed (the database was too slow)")
RATE_LIMITED = Counter("o2o_rate_limited_total",
                       "Attempts refused by an abuse limit (o2o/ratelimit.py), by limit", ["limit"])


def may_read_metrics(settings: Settings, *, client: str | None, token: str | None) -> bool:
    """Metrics tell who uses what: only the configured token, or an allowed address."""
    if settings.metrics_token and token is not None and \
            hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
        return True
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:  # no client address, or a name (test clients): not on any list
        return False
    if address.version == 6 and address.ipv4_mapped is not None:  # ::ffff:127.0.0.1
        address = address.ipv4_mapped
    return any(address in network for network in settings.metrics_networks)
JOURNALED = Counter("o2o_journal_rows_total",
                    "Reply-path writes journaled to local disk while the database was away")
JOURNAL_REPLAYED = Counter("o2o_journal_replayed_rows_total",
                           "Journaled writes replayed into the database")
