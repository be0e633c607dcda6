// Unit tests: bundles each src/*.test.ts with Vite (TypeScript stripped,
// imports inlined) into a temporary folder and runs them with Node's own
// test runner. No test framework to install; the tests typecheck with the
// rest (src/node-test.d.ts declares the bits of node:test they use).
import { build } from "vite";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tests = readdirSync(path.join(root, "src")).filter((f) => f.endsWith(".test.ts"));
if (!tests.length) {
  console.error("no unit tests found in src/*.test.ts");
  process.exit(1);
}
const out = mkdtempSync(path.join(tmpdir(), "sb-widget-test-"));
try {
  for (const f of tests) {
    await build({
      root,
      configFile: false,
      logLevel: "warn",
      publicDir: false,
      build: {
        outDir: out,
        emptyOutDir: false,
        target: "node20",
        minify: false,
        sourcemap: false,
        reportCompressedSize: false,
        lib: { entry: path.join(root, "src", f), formats: ["es"], fileName: () => f.replace(/\.ts$/, ".mjs") },
        rolldownOptions: { external: [/^node:/] },
      },
    });
  }
  const files = readdirSync(out).map((f) => path.join(out, f));
  const r = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
