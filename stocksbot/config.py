"""Typed functions over queries/config.sql, and the typed-value rules of settings.

A value is stored as canonical text with its type and comes back as that Python
type: ``"true"`` as bool → ``True``, json → dict/list. A value may be given as
text or as the native value; one that does not fit its type is rejected.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

from .errors import RowValidationError, ValidationError
from .inputs import json_text, storable_text
from .models import ConfigEntry, ConfigType
from .sqlfiles import statements
from .values import timestamp_from_db, timestamp_to_db

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _sql(conn: Any) -> Any:
    return statements(conn, "config")


def encode_value(value: Any, value_type: ConfigType, field: str = "value") -> str:
    """The canonical text of ``value`` as ``value_type``; ValidationError if it does not fit."""
    def bad(why: str) -> ValidationError:
        return ValidationError(f"{field}: {why} for type {value_type.value}", field=field)

    if value_type is ConfigType.STRING:
        if not isinstance(value, str):
            raise bad(f"expected text, got {type(value).__name__}")
        return storable_text(value, field)
    if value_type is ConfigType.INT:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad(f"expected an integer, got {type(value).__name__}")
        if isinstance(value, str):
            if not _INT_TEXT.fullmatch(value):
                raise bad(f"{value[:40]!r} is not an integer")
            if len(value) > 40:
                raise bad("more than 40 digits")
            value = int(value)
        if abs(value) >= 10**40:
            raise bad("more than 40 digits")
        return str(value)
    if value_type is ConfigType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise bad(f"expected a number, got {type(value).__name__}")
        if isinstance(value, str) and not _FLOAT_TEXT.fullmatch(value):
            raise bad(f"{value[:40]!r} is not a number")
        try:
            number = float(value)
        except OverflowError:
            raise bad(f"{str(value)[:40]!r} is out of range") from None
        if not math.isfinite(number):
            raise bad("must be finite")
        return repr(number)
    if value_type is ConfigType.BOOL:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return "true" if value.lower() in _TRUE else "false"
        raise bad(f"{str(value)[:40]!r} is not a boolean (true/false)")
    if value_type is ConfigType.JSON:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise bad(f"{value[:40]!r} is not JSON text (or is nested too deeply)") from None
        return json_text(value, field)
    raise bad("unknown type")  # pragma: no cover - ConfigType is closed


def decode_value(text: str, value_type: ConfigType) -> Any:
    """The Python value of stored text."""
    if value_type is ConfigType.STRING:
        return text
    if value_type is ConfigType.INT:
        return int(text)
    if value_type is ConfigType.FLOAT:
        return float(text)
    if value_type is ConfigType.BOOL:
        return text == "true"
    return json.loads(text)


def config_from_row(row: dict[str, Any]) -> ConfigEntry:
    """Build a :class:`ConfigEntry` from a full ``config`` row, decoding the value."""
    try:
        value_type = ConfigType(row["value_type"])
        return ConfigEntry(
            key=row["key"],
            account_id=row["account_id"],
            value=decode_value(row["value"], value_type),
            value_type=value_type,
            created_at=timestamp_from_db(row["created_at"]),
            updated_at=timestamp_from_db(row["updated_at"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise RowValidationError(f"a config row does not fit the ConfigEntry model: {exc}", query="config") from exc


def _row(conn: Any, query: str, params: dict[str, Any]) -> ConfigEntry | None:
    """Run a one-row query of config.sql and map its row (or None)."""
    statement = getattr(_sql(conn), query)
    row = statement(conn, params)
    return None if row is None else config_from_row(dict(zip(statement.columns, row)))


def upsert_config_value(
    conn: Any, *, account_id: str, key: str, value: str, value_type: ConfigType, updated_at: datetime,
) -> ConfigEntry:
    """Insert or replace one setting; ``value`` is already encoded (config.sql: upsert_config_value)."""
    return _row(conn, "upsert_config_value", {  # type: ignore[return-value]  # RETURNING always returns the row
        "account_id": account_id, "key": key, "value": value, "value_type": value_type.value,
        "updated_at": timestamp_to_db(updated_at),
    })


def find_config_value(conn: Any, *, account_id: str, key: str) -> ConfigEntry | None:
    """One setting, or None (config.sql: find_config_value)."""
    return _row(conn, "find_config_value", {"account_id": account_id, "key": key})


def list_config(conn: Any, *, account_id: str) -> list[ConfigEntry]:
    """Every setting by key (config.sql: list_config)."""
    queries = _sql(conn)
    rows = queries.list_config(conn, {"account_id": account_id})
    return [config_from_row(dict(zip(queries.list_config.columns, row))) for row in rows]


def delete_config_value(conn: Any, *, account_id: str, key: str) -> bool:
    """Delete one setting; True if it existed (config.sql: delete_config_value)."""
    return _sql(conn).delete_config_value(conn, {"account_id": account_id, "key": key}) > 0
