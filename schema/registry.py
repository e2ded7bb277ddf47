"""The gateway's trusted documents: the operations its four clients ship, by name and by hash.

The documents live in `schema/documents/{client}.graphql` (copies of the client contract's,
kept equal to it by `tests/test_contract.py` where `../shared` is present). They are read,
parsed and validated against the gateway's schema once, when the app is built.

Each operation is kept as the text a client sends for it: graphql-core's `print_ast` of
the operation together with the fragments it uses (operation first, then those fragments
in file order). That is the string graphql-js's `print` gives too, i.e. what Apollo Client
sends as `query` and hashes for automatic persisted queries, so an entry's `sha256` is the
lowercase hex SHA-256 of that text's UTF-8 bytes, exactly what such a client sends as
`extensions.persistedQuery.sha256Hash`.

An operation that does not validate against the current schema (one a later issue builds)
is held with its errors and is "not served": lookups by name or by hash do not find it.

Each entry's `document` is parsed from its own text, once: a request for a served
operation (by name, by hash, or sending that exact text) is then neither parsed nor
validated again (`schema.validation.precompiled`), and its errors' locations are the
text's, as if the client had sent it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    Lexer,
    OperationDefinitionNode,
    Source,
    TokenKind,
    Visitor,
    parse,
    print_ast,
    specified_rules,
    visit,
)
from strawberry.schema.schema import validate_document

from schema.validation import precompile

DOCUMENTS = Path(__file__).resolve().parent / "documents"
CLIENTS = ("mobile", "ticketing", "marketing", "staff")


def sha256_of(text: str) -> str:
    """The hash a persisted-query client sends for this exact text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TrustedOperation:
    """One operation a client ships: its text, hash, parsed document and validation result."""

    name: str
    client: str
    text: str
    sha256: str
    document: DocumentNode  # this one operation plus the fragments it uses
    errors: tuple[GraphQLError, ...]  # against the gateway's schema and limits; empty when served

    @property
    def served(self) -> bool:
        return not self.errors


class PersistedRequestError(Exception):
    """A request that names a trusted document wrongly; answered as a GraphQL error with `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_graphql(self) -> GraphQLError:
        return GraphQLError(self.message, extensions={"code": self.code})


def not_found() -> PersistedRequestError:
    # Apollo's message and code, so its persisted-query link falls back to sending the text.
    return PersistedRequestError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")


def _spreads(node: Any) -> set[str]:
    names: set[str] = set()

    class Collect(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: Any) -> None:
            names.add(spread.name.value)

    visit(node, Collect())
    return names


def _operations(client: str, source: str) -> Iterator[tuple[str, DocumentNode]]:
    """Each named operation of one client's file, as a document of its own with its fragments."""
    if Lexer(Source(source)).lookahead().kind == TokenKind.EOF:
        return  # only comments: a client that ships nothing yet
    definitions = parse(source).definitions
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    for definition in definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.name is None:
            raise ValueError(f"{client}.graphql: every operation needs a name")
        used: set[str] = set()
        pending = _spreads(definition) if fragments else set()
        while pending:
            name = pending.pop()
            if name in used or name not in fragments:
                continue  # an unknown fragment is left to validation to report
            used.add(name)
            pending |= _spreads(fragments[name])
        own = tuple(d for d in definitions if isinstance(d, FragmentDefinitionNode) and d.name.value in used)
        yield definition.name.value, DocumentNode(definitions=(definition, *own))


class DocumentRegistry(Mapping[str, TrustedOperation]):
    """Every trusted operation by name (served or not); served ones also by hash."""

    def __init__(self, operations: Iterable[TrustedOperation]) -> None:
        self._by_name: dict[str, TrustedOperation] = {}
        for operation in operations:
            if operation.name in self._by_name:
                first = self._by_name[operation.name].client
                raise ValueError(
                    f"operation {operation.name} is in both {first}.graphql and {operation.client}.graphql"
                )
            self._by_name[operation.name] = operation
        self._by_hash = {op.sha256: op for op in self._by_name.values() if op.served}
        self._by_text = {op.text: op for op in self._by_name.values() if op.served}

    @classmethod
    def load(
        cls,
        schema: GraphQLSchema,
        rules: tuple[type[ASTValidationRule], ...] = tuple(specified_rules),
        folder: Path = DOCUMENTS,
        max_tokens: int | None = None,
    ) -> DocumentRegistry:
        """Read, parse and validate `folder/{client}.graphql` for each of the four clients.

        Each operation's text is parsed again on its own (with the request's token limit,
        `max_tokens`) and validated with `rules`; a served one is handed to
        `schema.validation.precompile`, so a request for it skips both steps.
        """
        operations = []
        for client in CLIENTS:
            for name, whole in _operations(client, (folder / f"{client}.graphql").read_text(encoding="utf-8")):
                text = print_ast(whole)
                try:
                    document = parse(text, max_tokens=max_tokens)
                except GraphQLError as error:
                    operations.append(TrustedOperation(name, client, text, sha256_of(text), whole, (error,)))
                    continue
                errors = tuple(validate_document(schema, document, rules))
                if not errors:
                    precompile(schema, rules, text, document)
                operations.append(TrustedOperation(name, client, text, sha256_of(text), document, errors))
        return cls(operations)

    def __getitem__(self, name: str) -> TrustedOperation:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def served(self, name: str) -> TrustedOperation | None:
        """The served operation with this name, if any."""
        operation = self._by_name.get(name)
        return operation if operation is not None and operation.served else None

    def by_text(self, text: str) -> TrustedOperation | None:
        """The served operation whose text is exactly this, if any."""
        return self._by_text.get(text)

    def by_sha256(self, digest: str) -> TrustedOperation | None:
        """The served operation whose text has this SHA-256 (hex, either case), if any."""
        return self._by_hash.get(digest.lower())

    @property
    def not_served(self) -> dict[str, tuple[GraphQLError, ...]]:
        """Operations the current schema cannot run, with why."""
        return {op.name: op.errors for op in self._by_name.values() if not op.served}

    def persisted(
        self, query: str | None, operation_name: str | None, extensions: Mapping[str, Any] | None
    ) -> TrustedOperation | None:
        """The trusted operation a request names instead of sending its text, or None for a plain request.

        A request without `query` names one by `extensions.persistedQuery.sha256Hash`
        (Apollo's automatic persisted queries, version 1) or, failing that, by
        `operationName`. A request with `query` and a hash is run as sent once the hash
        is checked. Raises PersistedRequestError (PERSISTED_QUERY_NOT_FOUND, BAD_INPUT).
        """
        reference = (extensions or {}).get("persistedQuery")
        digest = None
        if reference is not None:
            if not isinstance(reference, Mapping) or reference.get("version") != 1:
                raise PersistedRequestError("BAD_INPUT", "persistedQuery: only version 1 is supported")
            digest = reference.get("sha256Hash")
            if not isinstance(digest, str):
                raise PersistedRequestError("BAD_INPUT", "persistedQuery.sha256Hash must be a string")
        if query is not None:
            if digest is not None and digest.lower() != sha256_of(query):
                raise PersistedRequestError("BAD_INPUT", "persistedQuery.sha256Hash does not match the query")
            return None
        if digest is not None:
            found = self.by_sha256(digest)
        elif isinstance(operation_name, str):
            found = self.served(operation_name)
        else:
            return None  # neither text nor a reference: the view reports the missing query
        if found is None:
            raise not_found()
        return found
