"""aiosqlite with one trip to its thread per statement.

SQLAlchemy's aiosqlite adapter makes four trips to the connection's thread for every
statement — open a cursor, execute, fetch the rows, close the cursor — and each trip is a
queue hand-off and a wake-up of the event loop: on a busy machine they cost more than the
statement. ``OneTripDBAPI`` runs the four steps as one function in that thread and hands back
the rows, the description, the row count and the last row id together; everything else
(connections, transactions, errors, the pool) stays SQLAlchemy's own.

Pass it as ``create_async_engine(url, module=OneTripDBAPI.load())`` for ``sqlite+aiosqlite``.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any], int, int | None]


def _run(connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """In the connection's thread: the whole statement, its rows and what the cursor says."""
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement and rows come back in one trip."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return  # nothing is open between statements

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection = self._connection
        try:
            outcome: _Outcome = await_(
                connection._execute(_run, connection, operation, parameters, many)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI adapter, handing out ``OneTripConnection``s."""

    @classmethod
    def load(cls) -> OneTripDBAPI:
        return cls(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        creator = kw.pop("async_creator_fn", None)
        connection = creator(*arg, **kw) if creator else self.aiosqlite.connect(*arg, **kw)
        thread = getattr(connection, "_thread", None)
        if thread is not None:
            thread.daemon = True  # as SQLAlchemy does: the thread never holds the process up
        return OneTripConnection(self, await_(connection))
