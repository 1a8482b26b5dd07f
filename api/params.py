"""Integer (and day) parameters bounded to what the databases and the code can hold,
declared once.

Ids are PostgreSQL INTEGER (32-bit) and paging feeds LIMIT/OFFSET: an unbounded `int` lets
`?offset=99999999999999999999` reach the driver, which answers OverflowError (SQLite) or
NumericValueOutOfRange (PostgreSQL), i.e. a 500. Bounded here, such a request gets a 422
like any other malformed input, and the bound shows in the OpenAPI schema.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from annotated_types import Ge, Le

from o2o.db.schema import INT4_MAX

#: A row id, in a path, a query string or a body.
RowId = Annotated[int, Ge(1), Le(INT4_MAX)]
#: A count of rows to skip.
Skip = Annotated[int, Ge(0), Le(INT4_MAX)]
#: A calendar day a report may ask about: room on both sides for the date arithmetic of
#: ranges and weeks (`?to=0001-01-01` minus 29 days was an OverflowError, a 500).
Day = Annotated[date, Ge(date(1970, 1, 1)), Le(date(2999, 12, 31))]
