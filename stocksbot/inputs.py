"""Validation of what callers pass in: every error is a ValidationError naming the field.

Text is never trimmed or re-cased: a value that does not fit its form is refused.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from .errors import ValidationError
from .values import money_to_db, quantity_to_db, to_decimal, to_utc

E = TypeVar("E", bound=Enum)

SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9./-]{0,31}")
ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
EXTERNAL_ID = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces
CONFIG_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def storable_text(value: str, field: str) -> str:
    """Text both engines store verbatim: no NUL character, valid UTF-8 (no lone surrogates)."""
    if "\x00" in value:
        raise ValidationError(f"{field}: must not contain a NUL character", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{field}: not valid Unicode text (a lone surrogate)", field=field) from None
    return value


def json_text(value: Any, field: str) -> str:
    """Canonical JSON text of a value that round-trips exactly (text keys, no NaN, valid Unicode)."""
    import json

    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field}: not JSON-serialisable ({exc})", field=field) from None
    except RecursionError:
        raise ValidationError(f"{field}: nested too deeply", field=field) from None
    storable_text(text, field)
    try:
        same = json.loads(text) == value
    except RecursionError:
        raise ValidationError(f"{field}: nested too deeply", field=field) from None
    if not same:  # e.g. {1: "a"} would come back as {"1": "a"}, a tuple as a list
        raise ValidationError(f"{field}: does not survive JSON unchanged (keys must be text)", field=field)
    return text


def enum_value(enum: type[E], value: object, field: str) -> E:
    """An enum member from a member or its string value."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    allowed = ", ".join(str(member.value) for member in enum)
    raise ValidationError(f"{field}: {str(value)[:40]!r} is not one of {allowed}", field=field)


def _text(value: object, field: str, pattern: re.Pattern[str], form: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field}: expected text, got {type(value).__name__}", field=field)
    if not pattern.fullmatch(value):
        raise ValidationError(f"{field}: {value[:40]!r} is not {form}", field=field)
    return value


def symbol(value: object, field: str = "symbol") -> str:
    """An instrument symbol: 1-32 of A-Z 0-9 . / - (upper case as the venue spells it, e.g. BRK.B)."""
    return _text(value, field, SYMBOL, "a symbol (1-32 characters A-Z 0-9 . / -, starting with a letter or digit)")


def account_id(value: object, field: str = "account_id") -> str:
    """An account id: 1-64 of letters, digits and _ . : -."""
    return _text(value, field, ACCOUNT_ID, "an account id (1-64 letters, digits, _ . : -)")


def external_id(value: object, field: str) -> str | None:
    """A broker-side id (order or execution): printable ASCII without spaces, 1-128 characters, or None."""
    if value is None:
        return None
    return _text(value, field, EXTERNAL_ID, "an id (1-128 printable ASCII characters, no spaces)")


def row_id(value: object, field: str) -> str:
    """A stocksbot id (lowercase UUID text). A malformed id cannot exist, so it is refused early."""
    return _text(value, field, UUID_TEXT, "a stocksbot id (lowercase UUID)")


def optional_row_id(value: object, field: str) -> str | None:
    """A stocksbot id or None."""
    return None if value is None else row_id(value, field)


def name(value: object, field: str = "name", max_length: int = 200) -> str:
    """A display name: 1-200 characters, no control characters, stored exactly as given."""
    if not isinstance(value, str):
        raise ValidationError(f"{field}: expected text, got {type(value).__name__}", field=field)
    if not 1 <= len(value) <= max_length or _CONTROL.search(value) or value.strip() == "":
        raise ValidationError(f"{field}: must be 1-{max_length} characters without control characters", field=field)
    return storable_text(value, field)


def reason(value: object, field: str = "reason") -> str | None:
    """A free-text status reason, up to 1000 characters, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 1000:
        raise ValidationError(f"{field}: must be text of at most 1000 characters", field=field)
    return storable_text(value, field)


def config_key(value: object, field: str = "key") -> str:
    """A config key: 1-200 of letters, digits and _ . : / -."""
    return _text(value, field, CONFIG_KEY, "a config key (1-200 letters, digits, _ . : / -)")


def positive_quantity(value: object, field: str = "quantity") -> int:
    """A quantity > 0 as its scaled integer."""
    units = quantity_to_db(value, field)
    if units <= 0:
        raise ValidationError(f"{field}: must be greater than 0, got {to_decimal(value, field)}", field=field)
    return units


def positive_price(value: object, field: str = "price") -> int:
    """A price > 0 as its scaled integer."""
    units = money_to_db(value, field)
    if units <= 0:
        raise ValidationError(f"{field}: must be greater than 0, got {to_decimal(value, field)}", field=field)
    return units


def optional_price(value: object, field: str) -> int | None:
    """A price > 0 or None."""
    return None if value is None else positive_price(value, field)


def fee(value: object, field: str) -> int:
    """A commission or fee amount >= 0 as its scaled integer."""
    units = money_to_db(value, field)
    if units < 0:
        raise ValidationError(f"{field}: must not be negative, got {to_decimal(value, field)}", field=field)
    return units


def decimal(value: object, field: str) -> Decimal:
    """Any finite decimal (a mark price, say)."""
    return to_decimal(value, field)


def timestamp(value: object, field: str) -> datetime:
    """An aware datetime, normalised to UTC."""
    return to_utc(value, field)


def json_object(value: object, field: str = "config") -> dict[str, Any]:
    """A JSON object given as a dict (keys are text)."""
    if not isinstance(value, dict):
        raise ValidationError(f"{field}: expected a dict (JSON object), got {type(value).__name__}", field=field)
    json_text(value, field)
    return value


def boolean(value: object, field: str) -> bool:
    """A real bool (not 0/1 or text)."""
    if not isinstance(value, bool):
        raise ValidationError(f"{field}: expected True or False, got {type(value).__name__}", field=field)
    return value


def limit(value: object, field: str = "limit") -> int | None:
    """A row limit: a positive int or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**63 - 1:
        raise ValidationError(f"{field}: must be a positive integer (at most 2**63 - 1) or None", field=field)
    return value


def batch(value: object, field: str) -> list[Any]:
    """A batch of items given as a list, tuple or other non-text iterable, as a list."""
    from collections.abc import Iterable, Mapping

    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ValidationError(f"{field}: expected a list of items, got {type(value).__name__}", field=field)
    return list(value)
