"""How ids, money, quantities and timestamps are represented in the database.

One representation serves both engines (docs/decisions.md):

* ids are lowercase UUIDv7 text, made here, sortable in creation order;
* quantities are BIGINT scaled by 10**9 (columns ``*_e9``), prices and money
  BIGINT scaled by 10**8 (columns ``*_e8``): exact storage, comparison and SUM
  on SQLite and PostgreSQL alike;
* timestamps are fixed-width UTC text ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: exact to
  the microsecond, ordered as text, readable by a DBA.

A value that does not fit is rejected with a :class:`ValidationError` naming the
field; nothing is ever rounded silently on the way in.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal, getcontext, setcontext
from typing import Any, Callable, Iterable, TypeVar

from .errors import ValidationError

QUANTITY_PLACES = 9
MONEY_PLACES = 8
QUANTITY_SCALE = 10**QUANTITY_PLACES
MONEY_SCALE = 10**MONEY_PLACES
QUANTITY_STEP = Decimal(1).scaleb(-QUANTITY_PLACES)
MONEY_STEP = Decimal(1).scaleb(-MONEY_PLACES)
BIGINT_MAX = 2**63 - 1

#: The one decimal context of every conversion and derived value: results never depend on
#: the caller's ``decimal.getcontext()`` (whose precision or rounding an engine may change).
DECIMAL_CONTEXT = Context(prec=80, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999)

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
TIMESTAMP_LENGTH = 27

_T = TypeVar("_T")


# --- decimals -----------------------------------------------------------------


def to_decimal(value: object, field: str) -> Decimal:
    """Accept int, str, Decimal (and float through its shortest repr) as an exact Decimal."""
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected a number, got a bool", field=field)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{field}: must be a finite number, got {value!r}", field=field)
        result = Decimal(repr(value))
    elif isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):  # no padding, underscores, NaN or Infinity
            raise ValidationError(f"{field}: not a decimal number: {value[:40]!r}", field=field)
        result = Decimal(value)
    else:
        raise ValidationError(f"{field}: expected a number, got {type(value).__name__}", field=field)
    if not result.is_finite():
        raise ValidationError(f"{field}: must be a finite number, got {result}", field=field)
    return result


def _scale(value: object, field: str, places: int) -> int:
    """The exact integer of ``value × 10**places``, by integer arithmetic (no decimal context involved)."""
    if type(value) is int:  # exact already: only the range to check
        units = value * 10**places
        if abs(units) > BIGINT_MAX:
            raise ValidationError(f"{field}: {value} is out of range", field=field)
        return units
    number = value if type(value) is Decimal and value.is_finite() else to_decimal(value, field)
    if number:
        adjusted = number.adjusted()
        if adjusted > 19:  # far beyond BIGINT: refuse before building a huge int
            raise ValidationError(f"{field}: {number} is out of range", field=field)
        if adjusted < -places - 1:  # 1e-999999: beyond any scale, whatever the digits
            raise ValidationError(f"{field}: at most {places} decimal places allowed, got {number}", field=field)
    numerator, denominator = number.as_integer_ratio()  # exact, whatever the number of digits
    units, remainder = divmod(numerator * 10**places, denominator)
    if remainder:
        raise ValidationError(f"{field}: at most {places} decimal places allowed, got {number}", field=field)
    if abs(units) > BIGINT_MAX:
        raise ValidationError(f"{field}: {number} is out of range", field=field)
    return units


def quantity_to_db(value: object, field: str = "quantity") -> int:
    """A quantity as its scaled integer (10**9 units); rejects more than 9 decimal places."""
    return _scale(value, field, QUANTITY_PLACES)


def money_to_db(value: object, field: str = "price") -> int:
    """A price or an amount of money as its scaled integer (10**8 units)."""
    return _scale(value, field, MONEY_PLACES)


def in_range(units: int, field: str, places: int = MONEY_PLACES) -> int:
    """``units`` (a derived amount already in storage units) when it fits a BIGINT column; otherwise
    the ValidationError that :func:`money_to_db` (or, with 9 places, :func:`quantity_to_db`) raises for it."""
    if -BIGINT_MAX <= units <= BIGINT_MAX:
        return units
    raise ValidationError(f"{field}: {Decimal(units).scaleb(-places, DECIMAL_CONTEXT)} is out of range", field=field)


def quantity_from_db(units: int) -> Decimal:
    """The Decimal of a scaled quantity column."""
    return Decimal(units).scaleb(-QUANTITY_PLACES, DECIMAL_CONTEXT)


def money_from_db(units: int) -> Decimal:
    """The Decimal of a scaled money or price column."""
    return Decimal(units).scaleb(-MONEY_PLACES, DECIMAL_CONTEXT)


def build_exact(build: Callable[[Any], _T], row: Any) -> _T:
    """``build(row)`` with :data:`DECIMAL_CONTEXT` as the thread's decimal context, the caller's restored after.

    The row mappers (orders, positions, trades) turn each scaled integer into its Decimal as
    ``QUANTITY_STEP * units`` (or ``MONEY_STEP``): one multiplication in C that takes the int as
    it is, about a quarter of the cost of ``scaleb`` with a context argument, and exact under any
    context of 19 digits or more. This makes sure of it, whatever context the caller has set.
    """
    caller = getcontext()
    setcontext(DECIMAL_CONTEXT)
    try:
        return build(row)
    finally:
        setcontext(caller)


def build_all_exact(build: Callable[[Any], _T], rows: Iterable[Any]) -> list[_T]:
    """``[build(row) for row in rows]`` under :data:`DECIMAL_CONTEXT`, switched once (see :func:`build_exact`)."""
    caller = getcontext()
    setcontext(DECIMAL_CONTEXT)
    try:
        return [build(row) for row in rows]
    finally:
        setcontext(caller)


def round_money(value: Decimal) -> Decimal:
    """Round a derived amount (a notional, a share of a fee) to the money scale, half to even."""
    return value.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN, context=DECIMAL_CONTEXT)


def price_from_units(amount_e8: int, quantity_e9: int) -> Decimal:
    """``amount / quantity`` as a price rounded half-even to 8 places, from the scaled integers
    (quantity_e9 > 0): an average fill or entry price.

    Integer arithmetic on the exact quotient, so it needs no decimal context; it equals
    ``ratio(money_from_db(amount_e8), quantity_from_db(quantity_e9))`` digit for digit (that
    quotient is rounded to 80 digits first, far below the 8th place, where a quotient of two
    BIGINTs can never sit exactly on a half).
    """
    units, remainder = divmod(amount_e8 * QUANTITY_SCALE, quantity_e9)
    twice = 2 * remainder
    if twice > quantity_e9 or (twice == quantity_e9 and units & 1):
        units += 1
    return Decimal(units).scaleb(-MONEY_PLACES, DECIMAL_CONTEXT)


def ratio(numerator: Decimal, denominator: Decimal, step: Decimal = MONEY_STEP) -> Decimal:
    """numerator / denominator rounded half-even to ``step``, independent of the caller's context."""
    return DECIMAL_CONTEXT.divide(numerator, denominator).quantize(step, context=DECIMAL_CONTEXT)


# --- timestamps -----------------------------------------------------------------


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (microsecond precision)."""
    return datetime.now(timezone.utc)


def to_utc(value: object, field: str) -> datetime:
    """Accept an aware datetime (any offset) or ISO-8601 text with an offset; reject naive ones."""
    if type(value) is datetime and value.tzinfo is timezone.utc:
        return value  # already what the rest of this function would make of it
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{field}: not an ISO-8601 timestamp: {value[:40]!r}", field=field) from None
    if not isinstance(value, datetime):
        raise ValidationError(f"{field}: expected a datetime, got {type(value).__name__}", field=field)
    offset = value.utcoffset()
    if offset is None:
        raise ValidationError(f"{field}: naive datetime; give a timezone-aware (UTC) datetime", field=field)
    try:
        return (value - offset).replace(tzinfo=timezone.utc)
    except OverflowError:
        raise ValidationError(f"{field}: {value!r} is out of range", field=field) from None


#: The last datetime :func:`timestamp_to_db` converted and its text, as one tuple (read and
#: replaced whole, so threads never see a mismatched pair): a fill writes its one instant to
#: three or four rows, and each after the first is then an identity check.
_last_converted: tuple[object, str] = (object(), "")


def timestamp_to_db(value: object, field: str = "timestamp") -> str:
    """An aware datetime as fixed-width UTC text, e.g. ``2024-03-01T14:30:00.123456Z``."""
    global _last_converted
    last = _last_converted
    if value is last[0]:
        return last[1]
    moment = to_utc(value, field)
    if moment.year < 1000:  # strftime would print fewer than 4 year digits on some libcs
        raise ValidationError(f"{field}: year out of range", field=field)
    # isoformat is C code and several times cheaper than strftime; "+00:00" becomes "Z".
    text = moment.isoformat(timespec="microseconds")[:-6] + "Z"
    if type(value) is datetime:  # immutable, and held here: the same object is the same instant
        _last_converted = (value, text)
    return text


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_fromisoformat = datetime.fromisoformat


def timestamp_from_db(text: str) -> datetime:
    """The aware UTC datetime of a timestamp column."""
    if len(text) == TIMESTAMP_LENGTH and text[26] == "Z" and text[10] == "T":
        return _fromisoformat(text)  # C code; "Z" reads as timezone.utc
    return datetime(
        int(text[0:4]), int(text[5:7]), int(text[8:10]),
        int(text[11:13]), int(text[14:16]), int(text[17:19]), int(text[20:26]),
        tzinfo=timezone.utc,
    )


def now_text() -> str:
    """The current UTC time as timestamp-column text."""
    return utc_now().isoformat(timespec="microseconds")[:-6] + "Z"


# --- ids -----------------------------------------------------------------------

_id_lock = threading.Lock()
_last_ms = 0
_last_seq = 0


def new_id() -> str:
    """A new lowercase UUIDv7 (RFC 9562): unique across processes, ordered by creation time.

    Within one process, ids made in the same millisecond stay ordered through a
    12-bit counter in ``rand_a`` (RFC 9562 §6.2, method 1); 62 random bits keep
    ids from different processes apart.
    """
    global _last_ms, _last_seq
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _last_seq = ms, int.from_bytes(os.urandom(2), "big") & 0x1FF
        else:
            ms = _last_ms
            _last_seq += 1
            if _last_seq > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                ms, _last_seq = _last_ms, 0
        seq = _last_seq
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand_b
    hex_ = f"{value:032x}"
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


def id_timestamp(identifier: str) -> datetime:
    """The creation time encoded in a UUIDv7 (millisecond precision)."""
    ms = int(identifier.replace("-", "")[:12], 16)
    return _EPOCH + timedelta(milliseconds=ms)


def new_ids(count: int) -> list[str]:
    """``count`` new ids, exactly as ``count`` calls of :func:`new_id` would make them, for a bulk insert.

    The counter steps and the random bits are drawn once for the whole batch (one
    ``os.urandom`` call), which is what makes it cheaper than ``new_id`` in a loop.
    """
    global _last_ms, _last_seq
    if count <= 0:
        return []
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            first = int.from_bytes(os.urandom(2), "big") & 0x1FF
        else:
            ms, first = _last_ms, _last_seq + 1
        last = first + count - 1  # past 0xFFF the counter borrows the next millisecond, as new_id does
        _last_ms, _last_seq = ms + last // 0x1000, last % 0x1000
    noise = os.urandom(8 * count).hex()
    ids = []
    append = ids.append
    prefix_ms, prefix = -1, ""
    for index in range(count):
        step = first + index
        stamp, seq = ms + step // 0x1000, step % 0x1000
        if stamp != prefix_ms:
            text = f"{stamp:012x}"
            prefix_ms, prefix = stamp, f"{text[:8]}-{text[8:]}-"
        rand = noise[16 * index:16 * index + 16]  # 8 random bytes; the top 2 bits become the variant
        append(f"{prefix}{0x7000 | seq:04x}-{(int(rand[:4], 16) & 0x3FFF) | 0x8000:04x}-{rand[4:]}")
    return ids
