// Parses an AsyncAPI document (default ../asyncapi.yaml) with the AsyncAPI
// parser, resolving its relative $refs, prints every diagnostic and exits
// non-zero if any has severity error (or the document did not parse).
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';

const here = dirname(fileURLToPath(import.meta.url));
const file = resolve(here, process.argv[2] ?? '../asyncapi.yaml');
const names = { [DiagnosticSeverity.Error]: 'error', [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info', [DiagnosticSeverity.Hint]: 'hint' };

const { document, diagnostics } = await fromFile(new Parser(), file).parse();
let errors = 0;
for (const d of diagnostics) {
  if (d.severity === DiagnosticSeverity.Error) errors++;
  const where = d.path?.length ? d.path.join('.') : '(document)';
  console.log(`${names[d.severity] ?? d.severity}: ${d.code}: ${where}: ${d.message}`);
}
if (!document || errors > 0) {
  console.log(`asyncapi: ${file}: ${errors} error(s)`);
  process.exit(1);
}
const channels = document.channels().all().map((c) => c.address());
const messages = document.allMessages().all().length;
console.log(`asyncapi: ${file}: valid AsyncAPI ${document.version()}, channels ${channels.join(', ')}; ${messages} messages`);
