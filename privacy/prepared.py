"""Statements compiled once per database and run straight on the DBAPI cursor.

For the few statements of the hot record routes. SQLAlchemy still writes the SQL and
converts every value with the column type's own bind and result processors, so UUIDs,
times and JSON are stored and read exactly as `Connection.execute` would. What is left
out is the per-call machinery around that (execution context, parameter construction,
event dispatch, `Result` and `Row` objects): measured on SQLite, about 45 µs against the
database's own 10 µs for each of these small statements, several times per request.

Runs inside the caller's transaction (`Session.connection()`), and fails as SQLAlchemy
fails: a database error is raised as the same `sqlalchemy.exc.DBAPIError` subclass
(OperationalError, IntegrityError, ...) that `Connection.execute` raises, with the
parameters hidden (they can be personal data), and a lost connection is invalidated.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bind parameters, in order where the driver is positional
    positional: bool
    binds: tuple[Processor, ...]
    fixed: dict[str, Any]  # values the statement itself binds (`x == 1`)
    row: Any  # a namedtuple class for SELECTs, else None
    results: tuple[Processor, ...]

    def args(self, params: Mapping[str, Any]) -> Any:
        fixed = self.fixed
        given = (params[n] if n not in fixed else fixed[n] for n in self.names)
        values = [
            value if proc is None else proc(value)
            for proc, value in zip(self.binds, given, strict=True)
        ]
        return values if self.positional else dict(zip(self.names, values, strict=True))

    def make_row(self, raw: Sequence[Any]) -> Any:
        return self.row._make(
            value if proc is None else proc(value)
            for proc, value in zip(self.results, raw, strict=True)
        )


class Prepared:
    """A Core SELECT or INSERT, run on the DBAPI connection of a SQLAlchemy `Connection`.

    An INSERT names its columns (`columns`), and each row must give all of them: Python-side
    column defaults are not applied here. Expanding (`IN`) parameters are not supported.
    """

    def __init__(self, statement: Executable, *, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        is_insert = isinstance(self.statement, Insert)
        if is_insert != (self.columns is not None):
            raise TypeError("an INSERT names its columns, and only an INSERT does")
        kw = {"column_keys": self.columns} if is_insert else {}
        compiled: Any = self.statement.compile(dialect=dialect, **kw)
        if getattr(compiled, "insert_prefetch", None) or compiled.post_compile_params:
            raise TypeError("Prepared takes no Python-side defaults and no expanding IN")
        positional = bool(dialect.positional)
        # Each parameter the SQL names, once (positional drivers repeat a repeated one).
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        names = tuple(compiled.positiontup if positional else by_name)
        binds = tuple(by_name[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        fixed = {n: p.value for n, p in by_name.items() if not p.required and p.callable is None}
        row, results = None, ()
        if not is_insert:
            selected = list(self.statement.selected_columns)  # type: ignore[attr-defined]
            row = namedtuple("Row", [c.key for c in selected])  # type: ignore[misc]
            results = tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in selected
            )
        return _Compiled(compiled.string, names, positional, binds, fixed, row, results)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row (a namedtuple) or None."""
        compiled = self._for(conn.dialect)
        found = self._run(conn, compiled, compiled.args(params), many=False, fetch=True)
        return None if found is None else compiled.make_row(found)

    def insert(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert `rows` (executemany for more than one)."""
        if not rows:
            return
        compiled = self._for(conn.dialect)
        if len(rows) == 1:
            self._run(conn, compiled, compiled.args(rows[0]), many=False, fetch=False)
        else:
            self._run(conn, compiled, [compiled.args(r) for r in rows], many=True, fetch=False)

    @staticmethod
    def _run(conn: Connection, compiled: _Compiled, args: Any, *, many: bool, fetch: bool) -> Any:
        with _cursor(conn, compiled.sql) as cursor:
            if many:
                cursor.executemany(compiled.sql, args)
            else:
                cursor.execute(compiled.sql, args)
            return cursor.fetchone() if fetch else None


def run_sql(conn: Connection, sql: str) -> None:
    """Run a statement without parameters (`BEGIN IMMEDIATE`) the same way."""
    with _cursor(conn, sql) as cursor:
        cursor.execute(sql)


@contextmanager
def _cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """A DBAPI cursor of `conn`; driver errors leave as SQLAlchemy's, parameters hidden."""
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None  # an open Connection always has one
    cursor = dbapi_conn.cursor()
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as err:
        lost = conn.dialect.is_disconnect(err, dbapi_conn, cursor)
        if lost:
            conn.invalidate(err)
        raise DBAPIError.instance(
            sql,
            None,
            err,
            conn.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from err
    finally:
        cursor.close()
