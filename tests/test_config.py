"""Config: typed settings. A value given as text or as the native Python value comes back as
its type's Python value; upsert replaces value and type; a value that does not fit is refused
(ValidationError naming "value") and nothing is written.
"""

from __future__ import annotations

from typing import Any

import pytest

from stocksbot import ConfigEntry, ConfigType, StorageService, ValidationError
from stocksbot import config as config_queries

TABLES = ("strategies", "orders", "positions", "trades", "config")


def snapshot(db: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of the five tables, read with plain SQL (the 'nothing changed' witness)."""
    with db.connection() as conn:
        return {table: [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()] for table in TABLES}


def stored(db: Any, key: str) -> tuple[str, str]:
    """The raw (value, value_type) text of one key of the default account, read with plain SQL."""
    with db.connection() as conn:
        rows = conn.execute("SELECT account_id, key, value, value_type FROM config").fetchall()
    [(value, value_type)] = [(row["value"], row["value_type"]) for row in rows if row["key"] == key and row["account_id"] == "default"]
    return value, value_type


@pytest.fixture
def svc(db: Any) -> StorageService:
    """The default account's service on the engine under test."""
    return StorageService(db)


TYPED_VALUES = [
    # value_type, value given, value expected back, canonical stored text
    ("string", "hello", "hello", "hello"),
    ("string", "", "", ""),
    ("string", "  padded\n", "  padded\n", "  padded\n"),
    ("string", "true", "true", "true"),
    ("string", "Grüße 🚀", "Grüße 🚀", "Grüße 🚀"),
    ("int", "10", 10, "10"),
    ("int", 10, 10, "10"),
    ("int", "-3", -3, "-3"),
    ("int", "+7", 7, "7"),
    ("int", "007", 7, "7"),
    ("int", 0, 0, "0"),
    ("int", 2**70, 2**70, str(2**70)),
    ("float", "1.5", 1.5, "1.5"),
    ("float", 1.5, 1.5, "1.5"),
    ("float", 2, 2.0, "2.0"),
    ("float", "1e-3", 0.001, "0.001"),
    ("float", 0.1, 0.1, "0.1"),
    ("float", "-0.25", -0.25, "-0.25"),
    ("bool", "true", True, "true"),
    ("bool", True, True, "true"),
    ("bool", "false", False, "false"),
    ("bool", False, False, "false"),
    ("bool", "1", True, "true"),
    ("bool", "0", False, "false"),
    ("bool", "yes", True, "true"),
    ("bool", "off", False, "false"),
    ("json", {"a": 1}, {"a": 1}, '{"a":1}'),
    ("json", '{"b": [1, 2], "a": null}', {"a": None, "b": [1, 2]}, '{"a":null,"b":[1,2]}'),
    ("json", [1, 2], [1, 2], "[1,2]"),
    ("json", "[1, 2]", [1, 2], "[1,2]"),
    ("json", {"ü": "🚀", "n": {"x": [True, 1.5]}}, {"ü": "🚀", "n": {"x": [True, 1.5]}}, '{"n":{"x":[true,1.5]},"ü":"🚀"}'),
    ("json", {}, {}, "{}"),
]


@pytest.mark.parametrize(("value_type", "given", "expected", "text"), TYPED_VALUES, ids=lambda v: repr(v)[:30])
def test_values_come_back_typed(db: Any, svc: StorageService, value_type: str, given: Any, expected: Any, text: str):
    """A value given as text or natively comes back as its type's Python value, everywhere it is read."""
    entry = svc.set_config_value("k", given, value_type)
    for value in (entry.value, svc.get_config_value("k"), svc.get_config_entry("k").value, svc.list_config()[0].value):
        assert expected == value
        assert type(expected) is type(value)
    assert (ConfigType(value_type), "default", "k") == (entry.value_type, entry.account_id, entry.key)
    assert (text, value_type) == stored(db, "k")


def test_value_type_accepts_enum_members(svc: StorageService):
    """value_type may be a ConfigType member; the default type is string."""
    assert 5 == svc.set_config_value("n", "5", ConfigType.INT).value
    entry = svc.set_config_value("s", "5")
    assert ("5", ConfigType.STRING) == (entry.value, entry.value_type)


def test_upsert_replaces_value_and_type_and_keeps_created_at(svc: StorageService):
    """Setting an existing key replaces value and type, updates updated_at and keeps created_at; no second row."""
    first = svc.set_config_value("risk.max_position", "10", "int")
    assert first.created_at == first.updated_at
    second = svc.set_config_value("risk.max_position", {"AAPL": 5}, "json")
    assert ({"AAPL": 5}, ConfigType.JSON) == (second.value, second.value_type)
    assert first.created_at == second.created_at
    assert second.updated_at > first.updated_at
    assert [second] == svc.list_config()
    assert second == svc.get_config_entry("risk.max_position")


BAD_VALUES = [
    ("int", "1.5"), ("int", 1.5), ("int", True), ("int", "ten"), ("int", " 10"), ("int", ""),
    ("int", None), ("int", "1_000"), ("int", [1]),
    ("float", "abc"), ("float", "nan"), ("float", float("nan")), ("float", "inf"), ("float", float("-inf")),
    ("float", "1e999"), ("float", 10**400), ("float", True), ("float", None), ("float", ""),
    ("bool", "maybe"), ("bool", 1), ("bool", 0), ("bool", ""), ("bool", None), ("bool", " true"), ("bool", "truee"),
    ("json", "{not json"), ("json", {"a": float("nan")}), ("json", "NaN"), ("json", {1j}), ("json", object()), ("json", ""),
    ("string", 10), ("string", None), ("string", True), ("string", b"bytes"),
    ("float", " 1.5"),
    ("float", "1_000"),
    ("string", "a\x00b"),
    ("string", "a\ud800b"),
]


@pytest.mark.parametrize(("value_type", "value"), BAD_VALUES, ids=lambda v: repr(v)[:20])
def test_values_that_do_not_fit_are_refused(db: Any, svc: StorageService, value_type: str, value: Any):
    """A value that does not fit its type raises ValidationError(field="value"); neither a new nor an existing key changes."""
    svc.set_config_value("existing", "keep me")
    before = snapshot(db)
    for key in ("new", "existing"):
        with pytest.raises(ValidationError) as caught:
            svc.set_config_value(key, value, value_type)
        assert "value" == caught.value.field
    assert before == snapshot(db)
    assert "keep me" == svc.get_config_value("existing")


@pytest.mark.parametrize("value_type", ["integer", "str", "", "JSON", None, 1])
def test_unknown_value_type_is_refused(db: Any, svc: StorageService, value_type: Any):
    """A value_type that is not one of string|int|float|bool|json raises ValidationError(field="value_type")."""
    before = snapshot(db)
    with pytest.raises(ValidationError) as caught:
        svc.set_config_value("k", "1", value_type)
    assert "value_type" == caught.value.field
    assert before == snapshot(db)


def test_get_config_value_default(svc: StorageService):
    """get_config_value returns the default (None unless given) for an unset key, and the stored value otherwise."""
    assert None is svc.get_config_value("absent")
    assert 42 == svc.get_config_value("absent", default=42)
    assert None is svc.get_config_entry("absent")
    svc.set_config_value("present", "false", "bool")
    assert False is svc.get_config_value("present", default=True)


def test_list_config_orders_by_key(svc: StorageService):
    """list_config returns every setting of the account ordered by key (code-point order)."""
    keys = ["b", "a", "A", "a.b", "_x", "Z9", "a-b", "a/b", "a:b"]
    for n, key in enumerate(keys):
        svc.set_config_value(key, n, "int")
    listed = svc.list_config()
    assert sorted(keys) == [entry.key for entry in listed]
    assert all(isinstance(entry, ConfigEntry) for entry in listed)
    assert {key: n for n, key in enumerate(keys)} == {entry.key: entry.value for entry in listed}


def test_keys_are_case_sensitive_and_verbatim(svc: StorageService):
    """'Key' and 'key' are two settings; neither is re-cased."""
    svc.set_config_value("Mode", "live")
    svc.set_config_value("mode", "paper")
    assert ("live", "paper") == (svc.get_config_value("Mode"), svc.get_config_value("mode"))
    assert ["Mode", "mode"] == [entry.key for entry in svc.list_config()]


def test_delete_config_value(svc: StorageService):
    """delete_config_value returns True when the key existed and False after; the key then reads as unset."""
    svc.set_config_value("gone", "1", "int")
    svc.set_config_value("stays", "1", "int")
    assert True is svc.delete_config_value("gone")
    assert False is svc.delete_config_value("gone")
    assert False is svc.delete_config_value("never")
    assert "default" == svc.get_config_value("gone", default="default")
    assert ["stays"] == [entry.key for entry in svc.list_config()]


def test_typed_module_on_a_connection(db: Any, svc: StorageService):
    """stocksbot.config functions on a connection: encode/decode, find, list and delete agree with the service."""
    entry = svc.set_config_value("k", "3", "int")
    with db.connection() as conn:
        assert entry == config_queries.find_config_value(conn, account_id="default", key="k")
        assert None is config_queries.find_config_value(conn, account_id="paper", key="k")
        assert [entry] == config_queries.list_config(conn, account_id="default")
    with db.transaction() as conn:
        assert False is config_queries.delete_config_value(conn, account_id="paper", key="k")
        assert True is config_queries.delete_config_value(conn, account_id="default", key="k")
    assert None is svc.get_config_entry("k")
    assert ("true", True) == (config_queries.encode_value("on", ConfigType.BOOL), config_queries.decode_value("true", ConfigType.BOOL))
    assert [1, {"a": None}] == config_queries.decode_value(config_queries.encode_value("[1, {\"a\": null}]", ConfigType.JSON), ConfigType.JSON)
