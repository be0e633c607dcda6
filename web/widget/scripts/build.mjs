// Builds dist/widget.js (the loader) and dist/ui.js (the chat UI) with Vite
// as IIFE bundles with fixed names and no content hashes. With --check it
// also enforces the size budgets and fails when the dist/ that was there
// before (the committed one, on a clean clone) differs from the fresh build.
import { build } from "vite";
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const check = process.argv.includes("--check");

// Budgets, in gzipped bytes (issue: loader <= 3 KB, loader + UI <= 30 KB).
const LOADER_BUDGET = 3 * 1024;
const TOTAL_BUDGET = 30 * 1024;

const outputs = [
  { entry: "src/loader.ts", file: "widget.js" },
  { entry: "src/ui.ts", file: "ui.js" },
];

function snapshot() {
  const m = new Map();
  if (!existsSync(dist)) return m;
  for (const f of readdirSync(dist)) m.set(f, readFileSync(path.join(dist, f)));
  return m;
}

const before = snapshot();
mkdirSync(dist, { recursive: true });
for (const o of outputs) {
  await build({
    root,
    configFile: false,
    logLevel: "warn",
    publicDir: false,
    build: {
      outDir: dist,
      emptyOutDir: false,
      target: "es2019",
      minify: true,
      sourcemap: false,
      reportCompressedSize: false,
      lib: { entry: path.join(root, o.entry), formats: ["iife"], name: "SwitchboardWidget", fileName: () => o.file },
    },
  });
}
const after = snapshot();

const gz = (f) => gzipSync(after.get(f), { level: 9 }).length;
const loader = gz("widget.js");
const total = loader + gz("ui.js");
console.log(`widget.js (loader): ${after.get("widget.js").length} B, ${loader} B gzipped (budget ${LOADER_BUDGET})`);
console.log(`ui.js (chat UI):    ${after.get("ui.js").length} B, ${gz("ui.js")} B gzipped`);
console.log(`loader + UI:        ${total} B gzipped (budget ${TOTAL_BUDGET})`);

if (check) {
  let fail = false;
  if (loader > LOADER_BUDGET) {
    console.error(`FAIL: the loader is ${loader} B gzipped, over its budget of ${LOADER_BUDGET} B`);
    fail = true;
  }
  if (total > TOTAL_BUDGET) {
    console.error(`FAIL: loader + chat UI are ${total} B gzipped, over the budget of ${TOTAL_BUDGET} B`);
    fail = true;
  }
  const names = new Set([...before.keys(), ...after.keys()]);
  for (const n of names) {
    const a = before.get(n), b = after.get(n);
    if (!a || !b || !a.equals(b)) {
      console.error(`FAIL: dist/${n} was stale (differs from a fresh build); it has been rebuilt: commit web/widget/dist`);
      fail = true;
    }
  }
  if (fail) process.exit(1);
  console.log("ok: budgets met, dist/ is up to date");
}
