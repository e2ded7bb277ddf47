"""Validation done once per distinct document, limits included.

Strawberry's limiter extensions build new rule classes for every request, which makes
its validation cache miss every time; validating dominated a mobile read. Here the
limit rules are built once per schema, and validation results are cached by (schema,
document, rules). The parser cache hands back the same document object for the same
text, so a known document (the contract's) is validated once per process.

A document that does not parse is left to Strawberry's own parse (`CachedParsing`), whose
error goes through the operation's extensions like any other: ContractErrors gives it its
`extensions.code`.

Trusted documents (`schema.registry`) are parsed and validated once, at start-up, and
handed to `precompile`: a request whose text is one of theirs gets that document without
parsing (not even a cache lookup by the document, which hashes the whole tree), and
skips validation where the schema and the rules are those it was validated with.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    Lexer,
    Node,
    OperationDefinitionNode,
    Source,
    TokenKind,
    ValidationContext,
    specified_rules,
)
from strawberry.extensions import DisableIntrospection, MaxAliasesLimiter, ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document

_validate = lru_cache(maxsize=1024)(validate_document)

# Trusted texts and the documents parsed from them; (schema, document, rules) validated clean.
_precompiled: dict[str, tuple[DocumentNode, int]] = {}  # with the text's token count
_valid: set[tuple[int, int, tuple[type[ASTValidationRule], ...]]] = set()
_kept: list[object] = []  # what the ids above name, kept alive so no id is reused


def precompile(
    schema: GraphQLSchema, rules: tuple[type[ASTValidationRule], ...], text: str, document: DocumentNode
) -> None:
    """Remember a trusted text's document, which validated against `schema` with `rules` without errors."""
    document, _ = _precompiled.setdefault(text, (document, _tokens(text)))
    _valid.add((id(schema), id(document), rules))
    _kept.extend((schema, document))


def _tokens(text: str) -> int:
    lexer, count = Lexer(Source(text)), 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def precompiled(text: str | None, max_tokens: int | None = None) -> DocumentNode | None:
    """The document of a trusted text, parsed at start-up (None for any other text, or one
    longer than `max_tokens`, which the parser is left to refuse)."""
    found = _precompiled.get(text) if text is not None else None
    if found is None or (max_tokens is not None and found[1] > max_tokens):
        return None
    return found[0]


def validated(schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]) -> bool:
    """Whether this very document was validated clean at start-up against this schema with these rules."""
    return (id(schema), id(document), rules) in _valid


# The standard introspection query (GraphiQL's, graphql-core's, schemathesis') is 14
# deep, its `ofType` chain included; below `__schema` and `__type` this limit applies.
INTROSPECTION_DEPTH = 15
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


def depth_limit(max_depth: int, introspection_depth: int = INTROSPECTION_DEPTH) -> type[ASTValidationRule]:
    """A rule refusing operations nested deeper than `max_depth` fields (fragments
    followed), introspection included: Strawberry's QueryDepthLimiter skips every field
    that starts with `__`, so a 25-level `ofType` chain passed it. A path through
    `__schema` or `__type` may go `introspection_depth` deep, which the standard
    introspection query needs."""

    class DepthLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
            for operation in document.definitions:
                if isinstance(operation, OperationDefinitionNode):
                    name = operation.name.value if operation.name else "anonymous"
                    self._walk(operation, fragments, 0, max_depth, name, frozenset())

        def _walk(
            self,
            node: Node,
            fragments: dict[str, FragmentDefinitionNode],
            depth: int,
            limit: int,
            operation: str,
            seen: frozenset[str],
        ) -> bool:
            """False once the limit is passed (reported once per operation)."""
            if isinstance(node, FragmentSpreadNode):
                fragment = fragments.get(node.name.value)
                if fragment is None or node.name.value in seen:
                    return True
                return self._walk(fragment, fragments, depth, limit, operation, seen | {node.name.value})
            selection_set = getattr(node, "selection_set", None)
            if isinstance(node, FieldNode):
                if selection_set is None:
                    return True
                if node.name.value in INTROSPECTION_ROOTS:
                    limit = max(limit, introspection_depth)
                depth += 1
                if depth > limit:
                    self.report_error(GraphQLError(f"'{operation}' exceeds maximum operation depth of {limit}", [node]))
                    return False
            if selection_set is None:
                return True
            return all(
                self._walk(child, fragments, depth, limit, operation, seen) for child in selection_set.selections
            )

    return DepthLimit


@cache
def limit_rules(*, max_depth: int, max_aliases: int, introspection: bool) -> tuple[type[ASTValidationRule], ...]:
    """graphql-core's rules plus the gateway's depth and alias limits (and no introspection).

    Once per set of limits, so the schema's validation and the registry's use the same rules."""
    extra: list[type[ASTValidationRule]] = [
        depth_limit(max_depth),
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
    if not introspection:
        extra.extend(DisableIntrospection().validation_rules)
    return (*specified_rules, *extra)


class CachedValidation(SchemaExtension):
    """Validates with fixed rules, through a process-wide cache."""

    def __init__(self, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.rules = rules

    def on_validate(self) -> Iterator[None]:
        context: Any = self.execution_context
        schema, document = context.schema._schema, context.graphql_document
        if validated(schema, document, self.rules):
            context.pre_execution_errors = []
        else:
            context.pre_execution_errors = _validate(schema, document, self.rules)
        yield


class CachedParsing(ParserCache):
    """Strawberry's parser cache, except for documents that do not parse.

    ParserCache parses on entering the parsing step, outside the code that turns a syntax
    error into a result: the error escaped the operation's extensions, and answered
    without a code. Left undone here, the document is parsed again by Strawberry (a
    failed parse is not cached anyway), where the error is a result like the others.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        trusted = precompiled(context.query, context.parse_options.get("max_tokens"))
        if trusted is not None:
            context.graphql_document = trusted
            yield
            return
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError:
            context.graphql_document = None
        yield
