"""The schema's guards: depth, aliases, tokens, introspection; validation cached per document."""

from __future__ import annotations

from schema import build_schema
from schema.context import Context

DEEP = "{ me { wallets { program { id } } } }"


def context() -> Context:
    return Context(catalog=None, read_caller=lambda: None)  # type: ignore[arg-type]


async def test_query_deeper_than_the_limit_is_refused():
    shallow = build_schema(max_depth=2)
    result = await shallow.execute(DEEP, context_value=context())
    assert result.errors and "exceeds maximum operation depth" in result.errors[0].message


async def test_too_many_aliases_are_refused():
    strict = build_schema(max_aliases=2)
    result = await strict.execute(
        "{ a: programs { id } b: programs { id } c: programs { id } }", context_value=context()
    )
    assert result.errors and "aliases" in result.errors[0].message


async def test_introspection_can_be_turned_off():
    closed = build_schema(introspection=False)
    result = await closed.execute("{ __schema { queryType { name } } }", context_value=context())
    assert result.errors and "introspection" in result.errors[0].message.lower()
    opened = build_schema()
    assert (await opened.execute("{ __schema { queryType { name } } }", context_value=context())).errors is None


async def test_too_many_tokens_are_refused():
    tight = build_schema(max_tokens=10)
    result = await tight.execute("{ a: programs { id name currency rulesUrl organizerIds } }", context_value=context())
    assert result.errors and "token" in result.errors[0].message.lower()


async def test_a_known_document_is_validated_once():
    from schema.validation import _validate

    once = build_schema()
    before = _validate.cache_info()
    for _ in range(3):
        await once.execute("{ programs { id } }", context_value=context())
    after = _validate.cache_info()
    assert after.misses - before.misses <= 1
    assert after.hits - before.hits >= 2
