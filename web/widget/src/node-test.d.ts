// The little of Node's test runner and assert that the unit tests use
// (src/*.test.ts), so that they typecheck without @types/node.
declare module "node:test" {
  export default function test(name: string, fn: () => void | Promise<void>): void;
}
declare module "node:assert/strict" {
  const assert: {
    equal(actual: unknown, expected: unknown, message?: string): void;
    deepEqual(actual: unknown, expected: unknown, message?: string): void;
    match(actual: string, re: RegExp, message?: string): void;
  };
  export default assert;
}
