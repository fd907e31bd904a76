"""Catch the SQL constructs that work on one engine and break (or change meaning) on the other.

One set of SQL files serves SQLite and PostgreSQL (docs/decisions.md), so the shared
files under ``queries/`` and ``migrations/`` must stay inside the portable subset
(research: libs.md §3 and §6.10). sqlfluff checks the layout; this module checks the
meaning: each rule names a construct, the engine(s) it breaks, and the portable
alternative to write instead::

    $ python -m stocksbot.sqlcheck queries migrations
    queries/orders.sql:12: '::' cast: use CAST(x AS type)

It exits 0 when every file is clean, 1 when anything was found (one
``file:line: <construct>: use <alternative>`` line per finding, on stdout), and 2
for a path that does not exist. Without arguments it checks the ``queries/`` and
``migrations/`` directories stocksbot runs from.

Files in a ``postgresql/`` or ``sqlite/`` directory (one engine's overrides, and the
queries only it runs) are only checked against the rules that break *that* engine.

Comments are ignored; string literals are ignored except by the rules about their
content (a literal ``%``). The checker is lexical, not a parser: it errs on the side
of a finding, and the alternative tells how to rewrite the line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

__all__ = ["Finding", "RULES", "Rule", "boolean_columns", "check_file", "check_paths", "check_sql", "main", "mask"]

BOTH = frozenset({"sqlite", "postgresql"})
SQLITE = frozenset({"sqlite"})
POSTGRESQL = frozenset({"postgresql"})

NOW_ALTERNATIVE = "a bound UTC timestamp parameter computed in Python (values.now_text() / timestamp_to_db)"
ID_ALTERNATIVE = "TEXT ids made by the application (values.new_id(), UUIDv7)"
JSON_ALTERNATIVE = "a TEXT column holding JSON, parsed in Python (pydantic)"
CASE_ALTERNATIVE = "CASE WHEN a >= b THEN a ELSE b END"
UPSERT_ALTERNATIVE = "INSERT ... ON CONFLICT (columns) DO UPDATE SET c = excluded.c (or DO NOTHING)"
REBUILD_ALTERNATIVE = (
    "a table rebuild in one migration (CREATE TABLE new, INSERT ... SELECT, DROP TABLE old, "
    "ALTER TABLE new RENAME TO old); SQLite cannot alter columns or constraints"
)


# --- lexing ------------------------------------------------------------------------------


def mask(sql: str, *, keep_strings: bool = False) -> str:
    """The SQL with comments (and, unless ``keep_strings``, string contents) blanked out.

    The result has the same length and the same line breaks as the input, so an offset
    in it is an offset in the file. Quoted identifiers (``"x"``) keep their quotes and
    content; dollar-quoted strings (``$$...$$``) count as strings.
    """
    out: list[str] = []
    i, n = 0, len(sql)

    def blank(text: str) -> str:
        return "".join(ch if ch == "\n" else " " for ch in text)

    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(blank(sql[i:end]))
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(blank(sql[i:end]))
            i = end
        elif ch == "'":
            j = i + 1
            while j < n:
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            body = sql[i + 1 : j]
            out.append("'" + (body if keep_strings else blank(body)) + ("'" if j < n else ""))
            i = j + 1
        elif ch == "$" and (match := re.match(r"\$([A-Za-z_]\w*)?\$", sql[i:])) and not _is_parameter_suffix(sql, i):
            tag = match.group(0)
            end = sql.find(tag, i + len(tag))
            end = n if end < 0 else end + len(tag)
            body = sql[i + len(tag) : max(i + len(tag), end - len(tag))]
            out.append(tag + (body if keep_strings else blank(body)) + sql[max(i + len(tag), end - len(tag)) : end])
            i = end
        else:
            out.append(ch)
            i += 1
    return "".join(out)



def split_top_level(text: str, code: str | None = None) -> list[str]:
    """Split ``text`` at the commas outside parentheses, judged on its masked form (``code``, or
    :func:`mask` of the text), so a comma in a comment or string never splits; items stripped."""
    code = mask(text) if code is None else code
    items, depth, start = [], 0, 0
    for i, ch in enumerate(code):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]

def _is_parameter_suffix(sql: str, i: int) -> bool:
    # "$1" is a positional parameter, not a dollar quote; "$$" and "$tag$" are quotes.
    return i + 1 < len(sql) and sql[i + 1].isdigit()


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# --- rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One non-portable construct at one line of one file."""

    path: str
    line: int
    construct: str
    alternative: str
    breaks: frozenset[str]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.construct}: use {self.alternative}"


Matcher = Callable[[str, str, frozenset[str]], Iterator[tuple[int, str]]]


@dataclass(frozen=True)
class Rule:
    """A construct, the engines it breaks, the portable alternative, and how to find it.

    ``pattern`` is a case-insensitive regex run over the masked SQL; ``construct`` may
    use ``{0}`` for the matched text (as written, whitespace collapsed). ``strings``
    means string literals are searched too. ``matcher`` replaces ``pattern`` for rules a
    regex cannot express: it gets (masked code, code with strings, boolean columns) and
    yields (offset, matched text).
    """

    construct: str
    alternative: str
    breaks: frozenset[str]
    pattern: str | None = None
    strings: bool = False
    matcher: Matcher | None = None
    example: str = ""  # a line of SQL the rule must catch (the tests feed every example)

    def find(self, code: str, with_strings: str, booleans: frozenset[str]) -> Iterator[tuple[int, str]]:
        if self.matcher is not None:
            yield from self.matcher(code, with_strings, booleans)
            return
        assert self.pattern is not None
        text = with_strings if self.strings else code
        for match in re.finditer(self.pattern, text, re.IGNORECASE | re.MULTILINE):
            yield match.start(), match.group(0)

    def label(self, matched: str) -> str:
        return self.construct.format(" ".join(matched.split()))


def _boolean_comparisons(code: str, _: str, booleans: frozenset[str]) -> Iterator[tuple[int, str]]:
    # Declared BOOLEAN columns, plus the naming rule: is_*/has_* columns are booleans.
    names = "|".join([*sorted(map(re.escape, booleans), key=len, reverse=True), r"(?:is|has)_\w+"])
    patterns = (
        rf"\b(?:{names})\s*(?:=|==|<>|!=)\s*[01](?![\w.])",
        rf"(?<![\w.])[01]\s*(?:=|==|<>|!=)\s*(?:\w+\.)?(?:{names})\b",
        rf"\b(?:{names})\s+(?:NOT\s+)?IN\s*\(\s*[01]\s*(?:,\s*[01]\s*)?\)",
    )
    for pattern in patterns:
        for match in re.finditer(pattern, code, re.IGNORECASE):
            yield match.start(), match.group(0)


def _scalar_min_max(code: str, _: str, __: frozenset[str]) -> Iterator[tuple[int, str]]:
    for match in re.finditer(r"\b(MAX|MIN)\s*\(", code, re.IGNORECASE):
        depth, i = 1, match.end()
        while i < len(code) and depth:
            ch = code[i]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 1:
                yield match.start(), f"{match.group(1)}(a, b)"
                break
            i += 1


def _insert_select_upsert(code: str, _: str, __: frozenset[str]) -> Iterator[tuple[int, str]]:
    for statement in re.finditer(r"[^;]+", code):
        text = statement.group(0)
        insert = re.search(r"\bINSERT\s+INTO\b", text, re.IGNORECASE)
        conflict = re.search(r"\bON\s+CONFLICT\b", text, re.IGNORECASE)
        if not insert or not conflict:
            continue
        select = re.search(r"\bSELECT\b", text[insert.end() : conflict.start()], re.IGNORECASE)
        if not select:
            continue
        between = text[insert.end() + select.end() : conflict.start()]
        if not re.search(r"\bWHERE\b", between, re.IGNORECASE):
            yield statement.start() + insert.start(), "INSERT ... SELECT ... ON CONFLICT"


_TYPE_NAMES = {
    "timestamp": r"TIMESTAMPTZ|TIMESTAMP|DATETIME|DATE|TIME|TIMETZ|INTERVAL",
    "decimal": r"NUMERIC|DECIMAL|REAL|FLOAT[48]?|DOUBLE\s+PRECISION|DOUBLE|MONEY",
    "json": r"JSONB|JSON",
    "uuid": r"UUID",
    "varchar": r"VARCHAR|CHARACTER\s+VARYING|NVARCHAR|CHAR|CHARACTER",
}
_NOT_A_COLUMN = {
    "SELECT", "WHERE", "AND", "OR", "NOT", "ON", "BY", "SET", "FROM", "WHEN", "THEN", "ELSE", "CASE", "END",
    "IS", "IN", "NULL", "DISTINCT", "RETURNING", "VALUES", "DEFAULT", "CHECK", "KEY", "PRIMARY", "UNIQUE",
    "REFERENCES", "CONSTRAINT", "TABLE", "INDEX", "INTO", "JOIN", "HAVING", "LIMIT", "OFFSET", "CURRENT",
}


def _type_matcher(kind: str) -> Matcher:
    """A declared type in a column definition (``name TYPE``) or a CAST (``AS TYPE``)."""

    def find(code: str, _: str, __: frozenset[str]) -> Iterator[tuple[int, str]]:
        pattern = rf"(?P<before>\b[A-Za-z_]\w*)\s+(?P<type>(?:{_TYPE_NAMES[kind]}))\b"
        for match in re.finditer(pattern, code, re.IGNORECASE):
            before = match.group("before").upper()
            if before == "AS":
                if not re.search(r"CAST\s*\([^()]*$", code[: match.start("before")], re.IGNORECASE):
                    continue  # "x AS date": an alias, not a cast
            elif before in _NOT_A_COLUMN:
                continue
            else:
                previous = code[: match.start("before")].rstrip()
                if previous and previous[-1] not in "(," and not re.search(r"\bCOLUMN$", previous, re.IGNORECASE):
                    continue  # not the start of a column definition
                if previous and previous[-1] == "," and not re.search(r"\bCREATE\s+TABLE\b", code[: match.start()], re.IGNORECASE):
                    continue  # a select list: "a, b date" is an alias
            yield match.start("type"), match.group("type")

    return find


RULES: tuple[Rule, ...] = (
    # casts, operators, functions
    Rule("'::' cast", "CAST(x AS type)", SQLITE, r"::", example="SELECT amount::BIGINT FROM t;"),
    Rule("ILIKE", "LOWER(x) LIKE LOWER(:pattern), the pattern bound as a parameter", SQLITE, r"\bILIKE\b",
         example="SELECT a FROM t WHERE name ILIKE :pattern;"),
    Rule("{0} (case rules differ)", "LOWER(x) LIKE LOWER(:pattern): LIKE ignores ASCII case on SQLite, not on PostgreSQL",
         BOTH, r"\bLIKE\b(?!\s+LOWER\s*\()", example="SELECT a FROM t WHERE name LIKE :pattern;"),
    Rule("{0}", "LOWER(x) LIKE LOWER(:pattern), or filter in Python", BOTH,
         r"\bGLOB\b|\bREGEXP\b|\bSIMILAR\s+TO\b|~\*?|\bRLIKE\b", example="SELECT a FROM t WHERE name ~ :pattern;"),
    Rule("NOW()", NOW_ALTERNATIVE, BOTH, r"\bNOW\s*\(\s*\)", example="UPDATE t SET updated_at = NOW();"),
    Rule("{0}", NOW_ALTERNATIVE, BOTH, r"\b(?:CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|LOCALTIMESTAMP|LOCALTIME)\b",
         example="INSERT INTO t (created_at) VALUES (CURRENT_TIMESTAMP);"),
    Rule("{0}) date function", NOW_ALTERNATIVE, BOTH,
         r"\b(?:DATETIME|DATE|TIME|JULIANDAY|STRFTIME|UNIXEPOCH|DATE_TRUNC|DATE_PART|EXTRACT|AGE|TO_CHAR|TO_TIMESTAMP|TO_DATE)\s*\(",
         example="SELECT a FROM t WHERE created_at > datetime('now', '-1 day');"),
    Rule("literal '%'", "a bound parameter for LIKE patterns, Python for remainders ('%' breaks psycopg's %(name)s binding)",
         POSTGRESQL, r"%", strings=True, example="SELECT a FROM t WHERE name LIKE 'AB%';"),
    Rule("{0})", "a remainder computed in Python (MOD returns REAL on SQLite, and needs its math build)", BOTH, r"\bMOD\s*\(",
         example="SELECT MOD(quantity_e9, 100) FROM t;"),
    Rule("{0})", "Decimal.quantize in Python (ROUND(double precision, n) does not exist on PostgreSQL)", BOTH,
         r"\bROUND\s*\(", example="SELECT ROUND(price_e8 / 3.0, 2) FROM t;"),
    Rule("{0})", "a || b", SQLITE, r"\bCONCAT(?:_WS)?\s*\(", example="SELECT CONCAT(symbol, side) FROM t;"),
    Rule("{0})", CASE_ALTERNATIVE, SQLITE, r"\b(?:GREATEST|LEAST)\s*\(", example="SELECT GREATEST(a, b) FROM t;"),
    Rule("scalar {0}", CASE_ALTERNATIVE + " (scalar MAX/MIN exist on SQLite only)", POSTGRESQL, matcher=_scalar_min_max,
         example="SELECT MAX(a, b) FROM t;"),
    Rule("{0})", "COALESCE(a, b)", BOTH, r"\b(?:IFNULL|NVL|ISNULL)\s*\(", example="SELECT IFNULL(a, 0) FROM t;"),
    Rule("{0})", "an aggregate computed in Python (string and array aggregates differ per engine)", BOTH,
         r"\b(?:STRING_AGG|GROUP_CONCAT|ARRAY_AGG|LISTAGG)\s*\(", example="SELECT GROUP_CONCAT(symbol) FROM t;"),
    Rule("JSON operator {0}", JSON_ALTERNATIVE, BOTH, r"->>|->|#>>|#>|@>|<@|\?\|",
         example="SELECT config ->> 'lookback' FROM strategies;"),
    Rule("{0}) JSON function", JSON_ALTERNATIVE, BOTH, r"\b(?:JSON|JSONB)_\w+\s*\(",
         example="SELECT a FROM t, json_each(:ids);"),
    Rule("{0} list parameter", "a fixed-arity IN (:a, :b), or a same-name override in queries/<dialect>/", SQLITE,
         r"\bANY\s*\(", example="SELECT a FROM t WHERE symbol = ANY(:symbols);"),
    Rule("{0} on a bare parameter", "CAST(:x AS TEXT) IS NULL (PostgreSQL cannot infer a bare parameter's type)",
         POSTGRESQL, r"(?<![:\w]):[A-Za-z_]\w*\s+IS\s+(?:NOT\s+)?NULL\b",
         example="SELECT a FROM t WHERE (:status IS NULL OR status = :status);"),
    Rule("{0} on a boolean", "= TRUE / = FALSE (IN (TRUE, FALSE) in a CHECK), the bare column, or a bound Python bool "
         "(PostgreSQL has no boolean = integer)",
         POSTGRESQL, matcher=_boolean_comparisons, example="SELECT a FROM strategies WHERE is_active = 1;"),
    Rule("double quotes", "single quotes for strings and unquoted snake_case identifiers "
         "(SQLite reads an unknown \"x\" as a string, PostgreSQL as a column)", BOTH, r"\"", example='SELECT a FROM t WHERE side = "buy";'),
    Rule("backtick quotes", "unquoted snake_case identifiers", POSTGRESQL, r"`", example="SELECT `key` FROM config;"),
    # clauses
    Rule("{0}", "a guarded UPDATE ... WHERE ... RETURNING inside the transaction (a lock_ query, e.g. lock_order)", SQLITE,
         r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b", example="SELECT a FROM orders WHERE order_id = :order_id FOR UPDATE;"),
    Rule("{0}", "a bound :limit (the wrappers pass 2**62 for 'no limit')", BOTH, r"\bLIMIT\s+(?:-\s*\d+|NULL|ALL)\b",
         example="SELECT a FROM t ORDER BY a LIMIT -1;"),
    Rule("LIMIT offset, count", "LIMIT :limit OFFSET :offset", POSTGRESQL, r"\bLIMIT\s+[:\w]+\s*,", example="SELECT a FROM t ORDER BY a LIMIT 10, 20;"),
    Rule("{0}", UPSERT_ALTERNATIVE, POSTGRESQL, r"\bINSERT\s+OR\s+(?:REPLACE|IGNORE|ABORT|FAIL|ROLLBACK)\b|\bREPLACE\s+INTO\b",
         example="INSERT OR REPLACE INTO config (key, value) VALUES (:key, :value);"),
    Rule("{0}", UPSERT_ALTERNATIVE, BOTH, r"\bON\s+DUPLICATE\s+KEY\b", example="INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2;"),
    Rule("{0}", "ON CONFLICT (columns) [WHERE predicate] (constraint names are PostgreSQL-only here)", SQLITE,
         r"\bON\s+CONFLICT\s+ON\s+CONSTRAINT\b", example="INSERT INTO t (a) VALUES (1) ON CONFLICT ON CONSTRAINT pk_t DO NOTHING;"),
    Rule("{0} without WHERE", "WHERE TRUE at the end of the SELECT, before ON CONFLICT (SQLite cannot parse it otherwise)", SQLITE,
         matcher=_insert_select_upsert, example="INSERT INTO t (a) SELECT a FROM s ON CONFLICT (a) DO NOTHING;"),
    Rule("{0}", "a window function (ROW_NUMBER() OVER ...) or GROUP BY", SQLITE, r"\bDISTINCT\s+ON\b",
         example="SELECT DISTINCT ON (symbol) symbol, price_e8 FROM t;"),
    Rule("{0}", "DELETE FROM t WHERE key IN (SELECT ...)", SQLITE, r"\bDELETE\s+FROM\s+\w+\s+(?:AS\s+\w+\s+)?USING\b",
         example="DELETE FROM t USING s WHERE t.a = s.a;"),
    Rule("{0}", "DELETE FROM t (TRUNCATE is PostgreSQL-only)", SQLITE, r"\bTRUNCATE\b", example="TRUNCATE trades;"),
    Rule("{0})", "RETURNING on the INSERT", BOTH, r"\b(?:LASTVAL|CURRVAL|NEXTVAL|LAST_INSERT_ROWID|SCOPE_IDENTITY)\s*\(",
         example="SELECT last_insert_rowid();"),
    Rule("{0}", "connection settings in stocksbot/db.py (PRAGMA is SQLite-only)", POSTGRESQL, r"\bPRAGMA\b", example="PRAGMA foreign_keys = ON;"),
    # DDL
    Rule("{0}", ID_ALTERNATIVE, SQLITE, r"\b(?:SMALL|BIG)?SERIAL\b", example="CREATE TABLE t (t_id SERIAL PRIMARY KEY);"),
    Rule("{0}", ID_ALTERNATIVE, POSTGRESQL, r"\bAUTOINCREMENT\b", example="CREATE TABLE t (t_id INTEGER PRIMARY KEY AUTOINCREMENT);"),
    Rule("{0}", ID_ALTERNATIVE + " (a rowid alias on SQLite, a plain column on PostgreSQL)", BOTH,
         r"\bINTEGER\s+PRIMARY\s+KEY\b", example="CREATE TABLE t (t_id INTEGER PRIMARY KEY, a TEXT);"),
    Rule("{0}", ID_ALTERNATIVE, SQLITE, r"\bAS\s+IDENTITY\b", example="CREATE TABLE t (t_id BIGINT GENERATED ALWAYS AS IDENTITY);"),
    Rule("{0} type", "TEXT UTC timestamps YYYY-MM-DDTHH:MM:SS.ffffffZ (values.timestamp_to_db), or bound parameters", BOTH,
         matcher=_type_matcher("timestamp"), example="CREATE TABLE t (created_at TIMESTAMPTZ NOT NULL);"),
    Rule("{0} type", "BIGINT scaled by 10**8 (money, *_e8) or 10**9 (quantities, *_e9): SQLite stores NUMERIC as a float",
         BOTH, matcher=_type_matcher("decimal"), example="CREATE TABLE t (price NUMERIC(20, 8) NOT NULL);"),
    Rule("{0} type", JSON_ALTERNATIVE, BOTH, matcher=_type_matcher("json"), example="CREATE TABLE t (config JSONB NOT NULL);"),
    Rule("{0} type", ID_ALTERNATIVE + " in a TEXT column", BOTH, matcher=_type_matcher("uuid"), example="CREATE TABLE t (t_id UUID NOT NULL);"),
    Rule("{0} type", "TEXT with CHECK (LENGTH(x) BETWEEN 1 AND n): SQLite does not enforce declared lengths", BOTH,
         matcher=_type_matcher("varchar"), example="CREATE TABLE t (symbol VARCHAR(32) NOT NULL);"),
    Rule("{0}", "a plain table with CHECK constraints", POSTGRESQL, r"\bWITHOUT\s+ROWID\b|\)\s*STRICT\b",
         example="CREATE TABLE t (a TEXT PRIMARY KEY) WITHOUT ROWID;"),
    Rule("{0}", REBUILD_ALTERNATIVE, SQLITE, r"\bALTER\s+COLUMN\b|\b(?:ADD|DROP)\s+CONSTRAINT\b",
         example="ALTER TABLE orders ADD CONSTRAINT ck_orders_x CHECK (quantity_e9 > 0);"),
    Rule("{0}", "a plain CREATE INDEX (CONCURRENTLY is PostgreSQL-only and cannot run in a transaction)", SQLITE,
         r"\bCONCURRENTLY\b", example="CREATE INDEX CONCURRENTLY ix_t_a ON t (a);"),
)


# --- checking ----------------------------------------------------------------------------


_BOOLEAN_DECLARATION = re.compile(r"(?:^|[(,]|\bCOLUMN)\s*([A-Za-z_]\w*)\s+BOOL(?:EAN)?\b", re.IGNORECASE | re.MULTILINE)


def boolean_columns(sql_texts: Iterable[str]) -> frozenset[str]:
    """Column names declared BOOLEAN in these SQL texts (``is_*``/``has_*`` count as booleans anyway)."""
    names: set[str] = set()
    for text in sql_texts:
        names.update(match.group(1).lower() for match in _BOOLEAN_DECLARATION.finditer(mask(text)))
    return frozenset(names)


def check_sql(
    sql: str, path: str = "<sql>", *, booleans: frozenset[str] | None = None, engines: frozenset[str] = BOTH,
) -> list[Finding]:
    """Every finding in one SQL text, in line order. ``engines``: the engines this text must run on."""
    code = mask(sql)
    with_strings = mask(sql, keep_strings=True)
    columns = booleans if booleans is not None else boolean_columns([sql])
    findings: set[Finding] = set()
    for rule in RULES:
        if not rule.breaks & engines:
            continue
        for offset, matched in rule.find(code, with_strings, columns):
            findings.add(Finding(path, _line_of(sql, offset), rule.label(matched), rule.alternative, rule.breaks))
    return sorted(findings, key=lambda f: (f.line, f.construct))


def engines_for(path: Path) -> frozenset[str]:
    """A file under ``postgresql/`` or ``sqlite/`` runs on that engine only; any other on both."""
    parts = {part.lower() for part in path.parts[:-1]}
    if "postgresql" in parts:
        return POSTGRESQL
    if "sqlite" in parts:
        return SQLITE
    return BOTH


def check_file(path: Path, *, booleans: frozenset[str] | None = None, display: str | None = None) -> list[Finding]:
    """Every finding in one ``.sql`` file."""
    text = path.read_text(encoding="utf-8")
    return check_sql(text, display or str(path), booleans=booleans, engines=engines_for(path))


def sql_files(paths: Sequence[Path]) -> list[Path]:
    """The ``.sql`` files named, or found (recursively) under the directories named, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.sql") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(str(path))
    return files


def check_paths(paths: Sequence[Path]) -> list[Finding]:
    """Every finding in the files and directories named. Boolean columns come from every file
    checked plus the project's migrations (so a query file checked alone still knows them)."""
    files = sql_files(paths)
    texts = [path.read_text(encoding="utf-8") for path in files]
    try:
        from .paths import migrations_dir

        texts += [path.read_text(encoding="utf-8") for path in sorted(migrations_dir().glob("*.sql"))]
    except FileNotFoundError:  # pragma: no cover - checking SQL outside a stocksbot checkout
        pass
    booleans = boolean_columns(texts)
    findings: list[Finding] = []
    for path in files:
        findings.extend(check_file(path, booleans=booleans, display=_display(path)))
    return findings


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stocksbot.sqlcheck [PATH ...]``: 0 clean, 1 findings, 2 a path does not exist."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(arg in {"-h", "--help"} for arg in args):
        print(__doc__)
        return 0
    if args:
        paths = [Path(arg) for arg in args]
    else:
        from .paths import migrations_dir, queries_dir

        paths = [queries_dir(), migrations_dir()]
    try:
        files = sql_files(paths)
        findings = check_paths(paths)
    except FileNotFoundError as exc:
        print(f"stocksbot.sqlcheck: error: no such file or directory: {exc}", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding)
    noun = "file" if len(files) == 1 else "files"
    if findings:
        print(f"stocksbot.sqlcheck: {len(findings)} non-portable construct(s) in {len(files)} {noun}", file=sys.stderr)
        return 1
    print(f"stocksbot.sqlcheck: {len(files)} {noun} checked, all portable", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
