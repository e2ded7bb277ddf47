"""Raw statements: `$N` placeholders become SQLite's `?N`, and nothing else does."""

from __future__ import annotations

from loyalty import clock, sql


async def test_a_dollar_inside_a_literal_or_quoted_name_reaches_the_database_as_written():
    rows = await sql.fetch(
        """SELECT 'US$1 -- $2' AS price, CAST($1 AS INTEGER) AS n, 'it''s $1' AS quote, 7 AS "a$1" """,
        5,
    )
    assert rows == [{"price": "US$1 -- $2", "n": 5, "quote": "it's $1", "a$1": 7}]


async def test_placeholders_out_of_order_and_repeated_take_their_own_parameter():
    middle = " + ".join(f"CAST(${n} AS INTEGER)" for n in range(3, 10))  # PostgreSQL wants every one used
    rows = await sql.fetch(
        "SELECT CAST($2 AS INTEGER) - CAST($1 AS INTEGER) AS d, CAST($1 AS INTEGER) * 10 AS a,"
        f" CAST($10 AS INTEGER) AS j, {middle} AS m",
        *range(1, 11),
    )
    assert rows == [{"d": 1, "a": 10, "j": 10, "m": 3 + 4 + 5 + 6 + 7 + 8 + 9}]


async def test_a_dollar_in_a_literal_is_stored_as_written():
    await sql.execute(
        "INSERT INTO event (id, title, category, starts_at, organizer_id, updated_at)"
        " VALUES ($1, 'Tickets from $5 /* not a comment */', 'concert', $2, 'org$1', $2)",
        "e$1",
        clock.now(),
    )
    rows = await sql.fetch("SELECT id, title, organizer_id FROM event WHERE id = $1", "e$1")
    assert rows == [{"id": "e$1", "title": "Tickets from $5 /* not a comment */", "organizer_id": "org$1"}]


def test_only_placeholders_outside_literals_identifiers_and_comments_are_rewritten():
    statement = "SELECT '$1', \"$2\", $3 -- $4\n, /* $5 */ $6, [x$7], `$8`, $9"
    assert sql.sqlite_placeholders(statement) == "SELECT '$1', \"$2\", ?3 -- $4\n, /* $5 */ ?6, [x$7], `$8`, ?9"
