"""The full-text index inside the store, one backend per SQL dialect (a registry, no if-chains).

Rows of the ``lexical`` table are sentences; each has four term columns, one per assertion status (see
medsearch.lexical.assertion). SQLite indexes them with an FTS5 table (external content, kept in sync by
triggers, ranked by bm25); PostgreSQL with a GIN index on a weighted tsvector (asserted A, negated B,
uncertain C, historical D; ranked by ts_rank). A clause (medsearch.lexical.query.Clause) is matched within one
sentence: its concept terms in the columns of its status, its modifier slots ("left", ...) in any column.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from sqlalchemy import Connection, Float, Integer, String, bindparam, func, insert, literal_column, select, text

from medsearch.errors import StoreError

FTS_TABLE = "lexical_fts"
COLUMNS = ("asserted", "negated", "uncertain", "historical")
# which columns a clause's concept terms are looked up in, by the clause's status
STATUS_COLUMNS = {"asserted": ("asserted", "historical"), "negated": ("negated",), "uncertain": ("uncertain",),
                  "historical": ("historical",), "any": COLUMNS,  # "any": assertion ignored
                  "asserted only": ("asserted",)}  # for the assertion check of candidates
COLUMN_WEIGHTS = {"asserted": 1.0, "negated": 1.0, "uncertain": 1.0, "historical": 0.5}
BACKFILL_CHUNK = 500
REANALYSE_ITEMS = 500  # items re-analysed per transaction (Store.rebuild_lexical): the store is held this long
MAX_SENTENCES = 200_000  # matching sentences considered per clause


PG_INDEX = "ix_lexical_tsv"


def is_fulltext_object(name: str | None) -> bool:
    """FTS5's own tables and the PostgreSQL tsvector index: backend-specific, so not in the ORM metadata
    (schema comparisons skip them)."""
    return bool(name) and (name in (FTS_TABLE, PG_INDEX) or name.startswith(FTS_TABLE + "_"))


def rows_for(item_id: int, text_: str | None) -> list[dict]:
    """The ``lexical`` rows of one item's text."""
    from medsearch.lexical.assertion import analyse

    return [{"item_id": item_id, **{c: s.column(c) for c in COLUMNS}} for s in analyse(text_ or "")]


def _quote(term: str) -> str:
    return '"' + term.replace('"', "") + '"'


@dataclass(frozen=True)
class Backend:
    ddl: tuple[str, ...]
    drop: tuple[str, ...]
    render: Callable  # clause -> match expression (a clause without variants: its broader readings, modifiers, sides)
    either: str  # the operator joining match expressions into "any of them"
    matches: Callable  # (relaxed) -> (select of (sentence id, score)) as a subquery; the match expression is
    #                    the bound parameter ``expression``, given when the statement runs; relaxed, the sentences
    #                    must also match ``required`` (the score is the expression's alone)
    items: Callable  # (n) -> one select of (position in the list, the ids of the items with a matching sentence,
    #                  comma-separated, or NULL) for n match expressions, bound as ``expression_0`` ... ``_{n-1}``
    counts: Callable  # (n) -> one select of (position, number of matching sentences) for n match expressions
    #                   bound as above


# --- SQLite: FTS5 ------------------------------------------------------------------------------------

def _fts5_render(clause) -> str:
    cols = "{" + " ".join(STATUS_COLUMNS[clause.status]) + "}"
    variants = ["(" + " AND ".join(_quote(t) for t in v) + ")" for v in clause.variants]
    variants += [_fts5_broader(b) for b in clause.through]
    parts = [f"{cols} : ({' OR '.join(variants)})"] if variants else []
    parts += ["(" + " OR ".join(_quote(t) for t in slot) + ")" for slot in clause.constraints()]
    return " AND ".join(parts)


def _fts5_broader(broader) -> str:
    """A broader wording (medsearch.lexical.query.Broader): its phrase, in a sentence without any of ``unless``."""
    phrase = "(" + _quote(" ".join(broader.wording)) + ")"
    if not broader.unless:
        return phrase
    return f"({phrase} NOT (" + " OR ".join(_quote(" ".join(u)) for u in broader.unless) + "))"


def _fts5_matches(relaxed: bool):
    weights = ", ".join(str(COLUMN_WEIGHTS[c]) for c in COLUMNS)
    required = (f" AND +rowid IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :required)"
                if relaxed else "")
    params = [bindparam("expression", type_=String)] + ([bindparam("required", type_=String)] if relaxed else [])
    return (text(f"SELECT rowid AS sentence_id, -bm25({FTS_TABLE}, {weights}) AS score FROM {FTS_TABLE} "
                 f"WHERE {FTS_TABLE} MATCH :expression{required} LIMIT :sentences")  # LIMIT: not flattened into
            .bindparams(*params, sentences=MAX_SENTENCES)  # the aggregate, where bm25() cannot run
            .columns(sentence_id=Integer, score=Float)
            .subquery("lexical_hits"))


def _fts5_items(n: int):
    # one statement for the whole list (one round trip): a UNION ALL of the single-expression queries, tagged;
    # each answers one row of ids (a common finding is denied in thousands of texts: one row each cost more in
    # Python than the match itself)
    parts = [f"SELECT {i} AS position, group_concat(DISTINCT lexical.item_id) AS items FROM {FTS_TABLE} JOIN lexical "
             f"ON lexical.id = {FTS_TABLE}.rowid WHERE {FTS_TABLE} MATCH :expression_{i}" for i in range(n)]
    return text(" UNION ALL ".join(parts))


def _fts5_counts(n: int):
    parts = [f"SELECT {i} AS position, count(*) AS n FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :expression_{i}"
             for i in range(n)]
    return text(" UNION ALL ".join(parts))


_NEW = ", ".join(f"new.{c}" for c in COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in COLUMNS)
_COLS = ", ".join(COLUMNS)
SQLITE = Backend(
    ddl=(
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5({_COLS}, content='lexical', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER lexical_ai AFTER INSERT ON lexical BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, {_COLS}) VALUES (new.id, {_NEW}); END",
        f"CREATE TRIGGER lexical_ad AFTER DELETE ON lexical BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD}); END",
        f"CREATE TRIGGER lexical_au AFTER UPDATE ON lexical BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD}); "
        f"INSERT INTO {FTS_TABLE}(rowid, {_COLS}) VALUES (new.id, {_NEW}); END",
    ),
    drop=("DROP TRIGGER IF EXISTS lexical_ai", "DROP TRIGGER IF EXISTS lexical_ad", "DROP TRIGGER IF EXISTS lexical_au",
          f"DROP TABLE IF EXISTS {FTS_TABLE}"),
    render=_fts5_render,
    either=" OR ",
    matches=_fts5_matches,
    items=_fts5_items,
    counts=_fts5_counts,
)


# --- PostgreSQL: weighted tsvector, GIN, ts_rank -----------------------------------------------------

PG_WEIGHT_LETTERS = {"asserted": "A", "negated": "B", "uncertain": "C", "historical": "D"}
TSVECTOR = " || ".join(f"setweight(to_tsvector('simple'::regconfig, {c}), '{PG_WEIGHT_LETTERS[c]}'::\"char\")"
                       for c in COLUMNS)


def _pg_render(clause) -> str:
    letters = "".join(PG_WEIGHT_LETTERS[c] for c in STATUS_COLUMNS[clause.status])
    variants = ["(" + " & ".join(f"{t}:{letters}" for t in v) + ")" for v in clause.variants]
    variants += [_pg_broader(b, letters) for b in clause.through]
    parts = [f"({' | '.join(variants)})"] if variants else []
    parts += ["(" + " | ".join(slot) + ")" for slot in clause.constraints()]
    return " & ".join(parts)


def _pg_broader(broader, letters: str) -> str:
    """A broader wording (medsearch.lexical.query.Broader): its phrase, in a sentence without any of ``unless``.
    A phrase is matched weight by weight, each word with the same one: the columns are concatenated into one
    tsvector, so "a:AB <-> b:AB" would also take the last asserted word and the first denied one side by side
    (FTS5 keeps a phrase inside one column)."""
    def phrase(words):
        return "(" + " | ".join("(" + " <-> ".join(f"{t}:{letter}" for t in words) + ")" for letter in letters) + ")"

    if not broader.unless:
        return phrase(broader.wording)
    return f"({phrase(broader.wording)} & !(" + " | ".join(phrase(u) for u in broader.unless) + "))"


def _pg_matching(name: str):
    """A sentence's tsvector matches the tsquery bound as ``name``."""
    vector = literal_column(f"({TSVECTOR})")
    return vector.op("@@")(_pg_query(name))


def _pg_query(name: str):
    return func.to_tsquery(literal_column("'simple'::regconfig"), bindparam(name, type_=String))


def _pg_matches(relaxed: bool):
    from medsearch.store.models import LexicalSentence

    vector = literal_column(f"({TSVECTOR})")
    query = _pg_query("expression")
    # ts_rank's weights array is {D, C, B, A}
    weights = literal_column("'{%s}'::float4[]" % ",".join(
        str(COLUMN_WEIGHTS[c]) for c in ("historical", "uncertain", "negated", "asserted")))
    stmt = (select(LexicalSentence.id.label("sentence_id"), func.ts_rank(weights, vector, query).label("score"))
            .where(vector.op("@@")(query)))
    if relaxed:
        stmt = stmt.where(_pg_matching("required"))
    return stmt.subquery("lexical_hits")


def _pg_items(n: int):
    from sqlalchemy import Text, cast, distinct, union_all

    from medsearch.store.models import LexicalSentence

    ids = func.string_agg(distinct(cast(LexicalSentence.item_id, Text)), literal_column("','"))
    return union_all(*(
        select(literal_column(str(i)).label("position"), ids.label("items")).where(_pg_matching(f"expression_{i}"))
        for i in range(n)))


def _pg_counts(n: int):
    from sqlalchemy import union_all

    from medsearch.store.models import LexicalSentence

    return union_all(*(
        select(literal_column(str(i)).label("position"), func.count().label("n"))
        .select_from(LexicalSentence).where(_pg_matching(f"expression_{i}"))
        for i in range(n)))


POSTGRES = Backend(
    ddl=(f"CREATE INDEX {PG_INDEX} ON lexical USING gin (({TSVECTOR}))",),
    drop=(f"DROP INDEX IF EXISTS {PG_INDEX}",),
    render=_pg_render,
    either=" | ",
    matches=_pg_matches,
    items=_pg_items,
    counts=_pg_counts,
)

BACKENDS = {"sqlite": SQLITE, "postgresql": POSTGRES}


def backend_for(dialect: str) -> Backend:
    try:
        return BACKENDS[dialect]
    except KeyError:
        raise StoreError(f"no full-text index for {dialect} databases", hint=f"use one of: {', '.join(BACKENDS)}") from None


# --- writing and searching ---------------------------------------------------------------------------

def backfill(connection, item_ids=None, advance: Callable[[int], None] | None = None) -> int:
    """Analyse and index the texts of ``item_ids`` (all items when None); returns the number of sentences.
    ``advance(n)``: told of every ``n`` texts analysed (progress; the count ``analysable_texts`` gives)."""
    from medsearch.store.models import LexicalSentence, TextRow

    stmt = select(TextRow.item_id, TextRow.text).where(TextRow.text.is_not(None)).order_by(TextRow.item_id)
    if item_ids is not None:
        stmt = stmt.where(TextRow.item_id.in_(list(item_ids)))
    written, batch, texts = 0, [], 0
    for item_id, body in connection.execute(stmt):
        batch += rows_for(item_id, body)
        texts += 1
        if len(batch) >= BACKFILL_CHUNK:
            connection.execute(insert(LexicalSentence.__table__), batch)
            written, batch = written + len(batch), []
            if advance is not None:
                advance(texts)
                texts = 0
    if batch:
        connection.execute(insert(LexicalSentence.__table__), batch)
    if advance is not None and texts:
        advance(texts)
    return written + len(batch)


def item_ids_after(connection: Connection, after: int | None, limit: int) -> list[int]:
    """The ids of the next ``limit`` items past ``after`` (from the first when None), in order."""
    from medsearch.store.models import ItemRow

    stmt = select(ItemRow.id).order_by(ItemRow.id).limit(limit)
    if after is not None:
        stmt = stmt.where(ItemRow.id > after)
    return list(connection.execute(stmt).scalars())


def analysable_texts(connection: Connection) -> int:
    """The number of stored texts ``backfill`` analyses (every one that is not NULL)."""
    from medsearch.store.models import TextRow

    return int(connection.execute(select(func.count()).select_from(TextRow).where(TextRow.text.is_not(None)))
               .scalar_one())


@lru_cache(maxsize=None)
def _ranking_statement(dialect: str, target_table, join_items: bool, relaxed: bool = False):
    """The ranked search's select (bound parameters ``expression``, relaxed also ``required``, and ``limit``),
    built once per dialect, target table, join and kind: building and keying it on every query cost several times
    what running it does."""
    from medsearch.store.models import ItemRow, LexicalSentence

    hits = backend_for(dialect).matches(relaxed)
    score = func.max(hits.c.score).label("score")
    stmt = (select(target_table.item_id, target_table.vector_id, score)
            .select_from(hits)
            .join(LexicalSentence, LexicalSentence.id == hits.c.sentence_id)
            .join(target_table, target_table.item_id == LexicalSentence.item_id))
    if join_items:  # filters are on ItemRow; unfiltered, the vector row (its item's, by foreign key) is enough
        stmt = stmt.join(ItemRow, ItemRow.id == LexicalSentence.item_id)
    return (stmt.where(target_table.vector_id.is_not(None))
            .group_by(target_table.item_id, target_table.vector_id)
            .order_by(score.desc(), target_table.vector_id)
            .limit(bindparam("limit", type_=Integer)))


@lru_cache(maxsize=64)
def _items_statement(dialect: str, n: int):
    return backend_for(dialect).items(n)


@lru_cache(maxsize=64)
def _counts_statement(dialect: str, n: int):
    return backend_for(dialect).counts(n)


def sentence_count(connection: Connection) -> int:
    """The number of sentences in the full-text index: a scan of the table (what it costs grows with the
    archive; Store.lexical_search keeps the answer until the database changes)."""
    from medsearch.store.models import LexicalSentence

    return int(connection.execute(select(func.count()).select_from(LexicalSentence)).scalar_one())


def search(connection: Connection, target_table, clause, conditions: list, limit: int, relaxed: bool = False,
           sentences: int | None = None):
    """[(item id, vector id of ``target_table``, score)] of the items with a sentence matching ``clause``, best
    first; an item's score is its best sentence's. ``conditions`` are filter conditions on ItemRow. ``relaxed``:
    a sentence holding most of the clause, by information (medsearch.lexical.query.relaxed_alternatives), scored
    by all of the clause's terms (BM25 over the clause); ``sentences``: the number of sentences the units of a
    relaxed clause are weighed against (sentence_count, counted here when not given)."""
    dialect = connection.dialect.name
    backend = backend_for(dialect)
    if relaxed:
        params = _relaxed_expressions(connection, clause, sentences)
        if params is None:  # nothing can be held: no word of the clause is in any text
            return []
    else:
        params = {"expression": backend.render(clause)}
    stmt = _ranking_statement(dialect, target_table, bool(conditions), "required" in params)
    if conditions:
        stmt = stmt.where(*conditions)
    rows = connection.execute(stmt, {**params, "limit": limit}).all()
    return [(int(i), int(v), float(s)) for i, v, s in rows]


def _relaxed_expressions(connection: Connection, clause, sentences: int | None) -> dict[str, str] | None:
    """The relaxed search's bound expressions: ``required``, any of the clause's relaxed alternatives (their units
    weighed by how many of the ``sentences`` match each: one statement), and ``expression``, any of its terms,
    which scores; only ``expression`` when the alternative is any term (a denial); None when there is no
    alternative."""
    from medsearch.lexical.query import relaxation_units, relaxed_alternatives, relaxed_terms

    dialect = connection.dialect.name
    backend = backend_for(dialect)
    units = relaxation_units(clause)
    counts, total = {}, 0
    if units:  # a denial weighs nothing
        counts = dict(connection.execute(_counts_statement(dialect, len(units)),
                                         {f"expression_{n}": backend.render(u) for n, u in enumerate(units)}).all())
        total = sentence_count(connection) if sentences is None else sentences
    alternatives = relaxed_alternatives(clause, {u: int(counts[n]) for n, u in enumerate(units)}, total)
    if not alternatives:
        return None
    required = backend.either.join(f"({backend.render(c)})" for c in alternatives)
    if not units:
        return {"expression": required}
    return {"required": required,
            "expression": backend.either.join(f"({backend.render(t)})" for t in relaxed_terms(clause))}


def items_matching(connection: Connection, clauses) -> list[set[int]]:
    """For each clause, the ids of the items with a sentence matching it (no ranking, no filters): the cheap
    query behind the assertion check of search candidates."""
    clauses = list(clauses)
    if not clauses:
        return []
    dialect = connection.dialect.name
    backend = backend_for(dialect)
    expressions = {f"expression_{n}": backend.render(c) for n, c in enumerate(clauses)}
    found: list[set[int]] = [set() for _ in clauses]
    for position, items in connection.execute(_items_statement(dialect, len(clauses)), expressions).all():
        if items:
            found[int(position)] = set(map(int, items.split(",")))
    return found
