"""Statements compiled once and run straight on the DB-API cursor, for the hottest writes.

`conn.execute(insert, rows)` compiles (cached), builds an execution context and runs every
value through SQLAlchemy's type machinery on each call: for the handful of rows a WeChat
push leaves behind, that costs several times what the database spends storing them. A
`Prepared` statement is compiled once per dialect and column set, with the bind processors
of its columns (the same SQLAlchemy would apply: UTC timestamps, enums, JSON), and then
each call is one `cursor.executemany` in the caller's transaction.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

Processor = Callable[[Any], Any] | None


class Prepared:
    """One DML statement for one dialect and one set of parameter names."""

    __slots__ = ("names", "positional", "processors", "sql")

    def __init__(self, stmt: sa.Executable, dialect: sa.Dialect, names: Sequence[str]) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(names))
        binds = compiled.binds
        order = compiled.positiontup  # qmark/numeric styles: the order of the ?s
        self.positional = order is not None
        self.names: tuple[str, ...] = tuple(order if order is not None else binds)
        unknown = set(self.names) - set(names)
        if unknown:
            # A column default or an expression parameter the caller cannot supply.
            raise ValueError(f"statement needs parameters not given: {sorted(unknown)}")
        self.processors: tuple[Processor, ...] = tuple(
            binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.names)
        self.sql = compiled.string

    def params(self, rows: Iterable[Mapping[str, Any]]) -> list[Any]:
        """Each row's values in the driver's form (a tuple or a dict, as its style wants)."""
        pairs = tuple(zip(self.names, self.processors, strict=True))
        out: list[Any] = []
        for row in rows:
            values = [row[name] if proc is None else proc(row[name]) for name, proc in pairs]
            out.append(tuple(values) if self.positional else dict(zip(self.names, values,
                                                                       strict=True)))
        return out

    def executemany(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run for every row, in `conn`'s transaction, on its DB-API cursor; returns the
        rows affected in all (the driver's rowcount: sqlite3 and psycopg sum them)."""
        if not rows:
            return 0
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, self.params(rows))
            return int(cursor.rowcount)
        finally:
            cursor.close()


_by_dialect: weakref.WeakKeyDictionary[sa.Dialect, dict[Hashable, Prepared]] = \
    weakref.WeakKeyDictionary()


def prepared(conn: sa.Connection, key: Hashable, build: Callable[[], sa.Executable],
             names: Sequence[str]) -> Prepared:
    """The statement `build()` prepared for `conn`'s dialect and `names`, compiled on first
    use; `key` names the statement (with `names`) among the others of that dialect."""
    cache = _by_dialect.setdefault(conn.dialect, {})
    found = cache.get((key, tuple(names)))
    if found is None:
        found = cache[(key, tuple(names))] = Prepared(build(), conn.dialect, names)
    return found
