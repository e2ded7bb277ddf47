// The console's one way to the gateway: the contract's marketing documents, by operation name.
//
// The page writes no GraphQL. It fetches the documents the gateway serves beside it
// (the marketing client's trusted documents) and sends that text with the operation's
// name, as any GraphQL-over-HTTP client may. To move to persisted operations, change
// `request` alone.

const DOCUMENTS = new URL("documents.graphql", import.meta.url);
const ENDPOINT = new URL("../graphql", import.meta.url);

/** A refusal as the gateway worded it: `code` is the first error's extensions.code. */
export class GatewayError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join("; "));
    this.name = "GatewayError";
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? "UNKNOWN";
    this.rule = errors[0]?.extensions?.rule ?? null;
  }
}

function failure(message, code) {
  return new GatewayError([{ message, extensions: { code } }]);
}

/** The names of the operations a document defines. */
export function operationNames(text) {
  const names = [];
  for (const match of text.matchAll(/^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/gm)) {
    names.push(match[1]);
  }
  return names;
}

let documents = null;

/** The marketing documents (fetched once per page). */
export function loadDocuments() {
  documents ??= fetch(DOCUMENTS, { cache: "no-cache" }).then(async (response) => {
    if (!response.ok) {
      documents = null;
      throw failure(`the gateway did not serve its marketing documents (${response.status})`, "DOCUMENTS");
    }
    const text = await response.text();
    return { text, names: new Set(operationNames(text)) };
  });
  return documents;
}

function request(loaded, operationName, variables) {
  return { query: loaded.text, operationName, variables };
}

/** Run one operation of the marketing documents; its data, or a GatewayError. */
export async function send(operationName, variables, token) {
  const loaded = await loadDocuments();
  if (!loaded.names.has(operationName)) {
    throw failure(`the marketing documents have no operation ${operationName}`, "DOCUMENTS");
  }
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers,
      body: JSON.stringify(request(loaded, operationName, variables ?? {})),
    });
  } catch (error) {
    throw failure(`the gateway cannot be reached (${error.message})`, "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw failure(`the gateway answered ${response.status} ${response.statusText}`.trim(), "HTTP");
  }
  if (body.errors?.length) throw new GatewayError(body.errors);
  if (!response.ok || !body.data) throw failure(`the gateway answered ${response.status}`, "HTTP");
  return body.data;
}
