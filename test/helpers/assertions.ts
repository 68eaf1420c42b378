import assert from "node:assert/strict";
import { isPasticheError, type ErrorCode } from "../../src/errors.js";

/** Asserts a PasticheError with `code` whose message contains every fragment. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, ...fragments: string[]): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isPasticheError(e), `expected a PasticheError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`);
    return true;
  });
}
