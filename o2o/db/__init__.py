"""The database: who writes what, where and when.

- A WeChat push writes nothing while it is answered. Its customer upsert, query and
  impression events (`HandlerContext.record`) and any other small write, such as a follow,
  a visit or a reminder consent (`HandlerContext.write`), are queued with the group-commit
  `writer.BatchWriter`, which commits what many pushes queued in one transaction: on an
  embedded SQLite file on the event loop between requests (`loop`), otherwise, and for
  every `write`, on the `o2o-writer` thread (`thread`). The reply waits for its batch up to
  `O2O_WECHAT_WRITE_WAIT_S`. Staff tokens and console sessions note their last use the same way.
- While the database is unavailable, and for a reply whose batch is late, those rows go to
  the worker's `journal` (JSON lines under `O2O_STATE_DIR/journal`; a `write` waits in
  memory), replayed by any worker once the database answers or at the next start (`outage`).
- Staff API and console routes, the customer pages (impressions, coupon claims), link
  redirects (clicks) and the till write in the request's session (`api.deps.DbSession`)
  and commit it; a catalog change adds its `catalog_changes` row in the same transaction.
- Each worker's background jobs (analytics rollup and purge, coupon reminders) and the CLI
  (migrations, `o2o import`, the demo chain) run transactions of their own.
- The live catalog (its load and the change feed), reports, admin lists and token checks
  only read, in `engine.read_only` transactions, which on SQLite never take the write lock.

`schema` holds the declarative base and column types, `engine` the engines, sessions and
`transaction`; both are re-exported here.
"""

from o2o.db.engine import (
    READ_ONLY,
    check_database,
    conflict_insert,
    make_engine,
    make_sessionmaker,
    read_only,
    sqlite_locked,
    transaction,
)
from o2o.db.schema import (
    INT4_MAX,
    NAMING,
    Base,
    GeoMultiPolygon,
    GeoPoint,
    GeoPolygon,
    UTCDateTime,
    point_ewkt,
    utcnow,
)

__all__ = [
    "INT4_MAX", "NAMING", "READ_ONLY", "Base", "GeoMultiPolygon", "GeoPoint", "GeoPolygon",
    "UTCDateTime", "check_database", "conflict_insert", "make_engine", "make_sessionmaker",
    "point_ewkt", "read_only", "sqlite_locked", "transaction", "utcnow",
]
