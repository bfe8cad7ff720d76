"""Subscriber import files (CSV or JSON) -> checked records and per-row refusals (pure).

CSV needs a header with ``msisdn``, ``owner`` and ``region``; ``language``, ``status`` and
``currency`` are optional (an empty cell means "leave as is" / the default). JSON is an array of
objects with the same fields. A row is named by its CSV line number or its JSON array index.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..msisdn import InvalidMsisdn, normalize_msisdn
from .components import SCHEMAS
from .schema import validate

REQUIRED_COLUMNS = ("msisdn", "owner", "region")
OPTIONAL_COLUMNS = ("language", "status", "currency")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (no header, missing columns, not a list)."""


@dataclass(frozen=True)
class SubscriberRecord:
    row: int
    msisdn: str
    owner: str
    region: str
    language: str | None = None
    status: str | None = None
    currency: str | None = None


@dataclass(frozen=True)
class RowRefusal:
    row: int
    msisdn: str | None
    reason: str


def csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ImportFileError(f"the CSV header lacks column(s): {', '.join(missing)}")
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ImportFileError(f"the CSV header has unknown column(s): {', '.join(unknown)}")
    reader.fieldnames = columns
    rows = []
    try:
        for record in reader:
            values = {k: v.strip() for k, v in record.items() if isinstance(v, str)}
            if not any(values.values()):
                continue  # blank line
            if None in record:
                values["__extra__"] = "more cells than columns"
            rows.append((reader.line_num,
                         {k: v for k, v in values.items()
                          if v or k in REQUIRED_COLUMNS}))
    except csv.Error as exc:
        raise ImportFileError(f"CSV line {reader.line_num}: {exc}") from None
    return rows


def json_rows(value: object) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        raise ImportFileError("the JSON body must be an array of subscriber objects")
    return [(index, item if isinstance(item, dict) else {"__row__": item})
            for index, item in enumerate(value)]


def check_rows(rows: Iterable[tuple[int, dict[str, Any]]], country_code: str
               ) -> list[SubscriberRecord | RowRefusal]:
    """Each row as a record to apply or a refusal saying why; a number listed twice is
    applied once (its first row) and refused after."""
    seen: dict[str, int] = {}
    checked: list[SubscriberRecord | RowRefusal] = []
    for row, values in rows:
        result = check_row(row, values, country_code)
        if isinstance(result, SubscriberRecord):
            if result.msisdn in seen:
                first = seen[result.msisdn]
                result = RowRefusal(row, result.msisdn,
                                    f"the number is listed twice (first in row {first})")
            else:
                seen[result.msisdn] = row
        checked.append(result)
    return checked


def check_row(row: int, values: dict[str, Any], country_code: str
              ) -> SubscriberRecord | RowRefusal:
    raw = values.get("msisdn")
    label = raw if isinstance(raw, str) else None
    if "__row__" in values:
        return RowRefusal(row, None, "not an object")
    if "__extra__" in values:
        return RowRefusal(row, label, values["__extra__"])
    errors = validate(SCHEMAS["SubscriberInput"], values, SCHEMAS)
    if errors:
        return RowRefusal(row, label, "; ".join(f"{e.path.lstrip('/')} {e.message}"
                                                for e in errors))
    try:
        msisdn = normalize_msisdn(values["msisdn"], country_code)
    except InvalidMsisdn as exc:
        return RowRefusal(row, label, exc.reason)
    return SubscriberRecord(row=row, msisdn=msisdn, owner=values["owner"].strip(),
                            region=values["region"].strip(), language=values.get("language"),
                            status=values.get("status"), currency=values.get("currency"))
