// The test vectors of docs/protocol.md: each `<!-- vector:NAME -->` is
// followed by a fenced block of hex bytes (the same parsing as the C++
// tests' test::doc_vector).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const protocolDoc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');

export function docVector(name, doc = protocolDoc) {
  const marker = `<!-- vector:${name} -->`;
  const at = doc.indexOf(marker);
  if (at < 0) throw new Error(`docs/protocol.md has no vector ${name}`);
  const open = doc.indexOf('```', at + marker.length);
  const bodyStart = doc.indexOf('\n', open) + 1;
  const close = doc.indexOf('```', bodyStart);
  const hex = doc.slice(bodyStart, close).replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})+$/i.test(hex)) throw new Error(`vector ${name} is not hex`);
  return Uint8Array.from(hex.match(/../g), (b) => parseInt(b, 16));
}
