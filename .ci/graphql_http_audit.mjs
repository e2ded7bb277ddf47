// The GraphQL-over-HTTP audit of the npm package graphql-http against a live gateway.
//
//   node .ci/graphql_http_audit.mjs http://127.0.0.1:8765/graphql
//
// Prints one line per audit (ok, warn, error or notice, its id and name, the reason
// where it failed), then a summary line of counts. Exits 1 on any error or warning:
// the notices are MAY items and do not fail the run.
//
// graphql-http is not a project dependency: .ci/run installs it (and its peer, graphql)
// into a temporary folder with `npm install --prefix DIR` and passes that folder as
// GRAPHQL_HTTP=DIR. Without GRAPHQL_HTTP the package is resolved as usual.
import { pathToFileURL } from 'node:url';

const url = process.argv[2];
if (!url) {
  console.error('usage: node graphql_http_audit.mjs URL');
  process.exit(2);
}

const prefix = process.env.GRAPHQL_HTTP;
const { auditServer } = prefix
  ? await import(pathToFileURL(`${prefix}/node_modules/graphql-http/lib/index.mjs`).href)
  : await import('graphql-http');

const results = await auditServer({ url });
const counts = { ok: 0, warn: 0, error: 0, notice: 0 };
for (const result of results) {
  counts[result.status] += 1;
  let line = `${result.status.padEnd(6)} ${result.id} ${result.name}`;
  if (result.status !== 'ok') {
    line += `\n         ${result.reason}`;
  }
  console.log(line);
}
console.log(
  `graphql-http audit: ${counts.ok} ok, ${counts.warn} warn, ${counts.error} error, ` +
    `${counts.notice} notice of ${results.length}`,
);
process.exit(counts.error + counts.warn > 0 ? 1 : 0);
