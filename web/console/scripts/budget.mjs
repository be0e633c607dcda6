// Fails when the console's JavaScript exceeds its gzip budget.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 150 * 1024;
const dir = new URL('../dist/assets/', import.meta.url).pathname;
let total = 0;
for (const f of readdirSync(dir).sort()) {
  if (!f.endsWith('.js')) continue;
  const raw = readFileSync(join(dir, f));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`${f}: ${raw.length} B raw, ${gz} B gzipped`);
}
console.log(`console JS total: ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET / 1024} KiB)`);
if (total > BUDGET) {
  console.error('console JS is over budget');
  process.exit(1);
}
