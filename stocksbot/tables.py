"""Plain-text tables for people: the CLI listings and the demo print through here.

Numbers are right-aligned, text is left-aligned, and a Decimal is printed from
its digits, never through a float. Trailing zeros are trimmed: money keeps at
least 2 places and at most 8 (its stored scale, so nothing is ever rounded
away); a quantity keeps at most 9 (its stored scale). ``None`` prints as ``-``.

>>> print(render_table([Column("symbol"), Column("qty", QUANTITY), Column("price", MONEY)],
...                    [["AAPL", Decimal("300.000000000"), Decimal("189.76666667")],
...                     ["KO", Decimal("100"), Decimal("61.5")]]))
symbol  qty         price
------  ---  ------------
AAPL    300  189.76666667
KO      100         61.50
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from typing import Any, Sequence

from .values import MONEY_PLACES, QUANTITY_PLACES, to_utc

#: Column kinds: how a cell is formatted and aligned.
TEXT = "text"
QUANTITY = "quantity"  # 0..9 places, exact
MONEY = "money"  # 2..8 places
NUMBER = "number"  # an int, or a Decimal with 0..8 places
PERCENT = "percent"  # a ratio (0.5) printed as 50.00%
TIME = "time"  # an aware datetime, printed in UTC to the second

_RIGHT = {QUANTITY, MONEY, NUMBER, PERCENT}
NONE = "-"


@dataclass(frozen=True)
class Column:
    """One column: its title and how its cells are formatted (one of the kinds above)."""

    title: str
    kind: str = TEXT


def format_decimal(value: Decimal | int, min_places: int = 0, max_places: int | None = None) -> str:
    """``value`` in plain notation (never exponent, never via float), trailing zeros trimmed.

    At least ``min_places`` decimal places are kept; with ``max_places`` the value
    is rounded half-even to that many places first (for display only).

    >>> format_decimal(Decimal("150.00000000"), 2)
    '150.00'
    >>> format_decimal(Decimal("1E-8"))
    '0.00000001'
    >>> format_decimal(Decimal("0.666666666666"), 0, 8)
    '0.66666667'
    """
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"not a finite number: {number}")
    if max_places is not None and -number.as_tuple().exponent > max_places:  # type: ignore[operator]
        number = number.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_EVEN)
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    whole, _, places = text.partition(".")
    if len(places) < min_places:
        places = places.ljust(min_places, "0")
    if whole in ("-0", "") and not places.strip("0"):
        whole = "0"  # no negative zero
    return f"{whole}.{places}" if places else whole


def format_money(value: Decimal | int) -> str:
    """Money: 2 to 8 decimal places, e.g. ``1766.70``, ``189.76666667``."""
    return format_decimal(value, 2, MONEY_PLACES)


def format_quantity(value: Decimal | int) -> str:
    """A quantity: as few places as it needs, up to its 9 stored places (``300``, ``0.5``)."""
    return format_decimal(value, 0, QUANTITY_PLACES)


def format_percent(ratio: Decimal | int) -> str:
    """A ratio as a percentage with 2 places: ``Decimal("0.5")`` → ``50.00%``."""
    return format_decimal(Decimal(ratio) * 100, 2, 2) + "%"


def format_time(moment: datetime) -> str:
    """An aware datetime in UTC to the second: ``2024-03-04 14:30:05Z``."""
    return to_utc(moment, "time").strftime("%Y-%m-%d %H:%M:%SZ")


def format_cell(value: Any, kind: str = TEXT) -> str:
    """One cell's text: ``None`` is ``-``; numbers, times and enums by ``kind`` or by type."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, (Decimal, int)):
        if kind == MONEY:
            return format_money(value)
        if kind == QUANTITY:
            return format_quantity(value)
        if kind == PERCENT:
            return format_percent(value)
        return format_decimal(value, 0, MONEY_PLACES)
    return str(value)


def render_table(columns: Sequence[Column], rows: Sequence[Sequence[Any]], *, empty: str = "(none)") -> str:
    """The rows under a header and a rule, columns separated by two spaces, without trailing blanks.

    With no rows the result is ``empty`` alone.
    """
    if not rows:
        return empty
    cells = [[format_cell(value, column.kind) for column, value in zip(columns, row, strict=True)] for row in rows]
    widths = [max([len(column.title)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]

    def line(texts: Sequence[str]) -> str:
        parts = [
            text.rjust(width) if column.kind in _RIGHT else text.ljust(width)
            for column, text, width in zip(columns, texts, widths)
        ]
        return "  ".join(parts).rstrip()

    header = line([column.title for column in columns])
    rule = "  ".join("-" * width for width in widths)
    return "\n".join([header, rule] + [line(texts) for texts in cells])


def render_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    """``label:  value`` lines, labels left-aligned and values right-aligned (summaries under a table)."""
    label_width = max((len(label) for label, _ in pairs), default=0)
    value_width = max((len(value) for _, value in pairs), default=0)
    return "\n".join(f"{(label + ':').ljust(label_width + 1)}  {value.rjust(value_width)}" for label, value in pairs)
