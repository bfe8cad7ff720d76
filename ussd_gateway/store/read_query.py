"""A SELECT on the hot path, written once in SQLAlchemy Core and compiled once per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect


class ReadQuery:
    """A Core ``select`` with named ``bindparam``s, run by :meth:`Database.fetch`.

    Its rows come back as plain tuples straight from the driver, so every column must be one
    the driver returns as is (text, integers): a type with a result processor (such as
    ``UtcDateTime``) is refused when the query is first compiled, not silently returned raw.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...]]] = {}

    def positional(self, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
        """The SQL text for ``dialect`` (qmark style) and the order of its parameters."""
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
        for column in self.statement.selected_columns:
            if column.type.result_processor(dialect, None) is not None:
                raise ValueError(f"ReadQuery: column {column.key!r} needs a result processor")
        compiled = self.statement.compile(dialect=dialect)
        if dialect.paramstyle != "qmark" or compiled.positiontup is None:
            raise ValueError(f"ReadQuery: {dialect.name} does not compile to qmark parameters")
        return str(compiled), tuple(compiled.positiontup)
