import { test } from "node:test";
import assert from "node:assert/strict";
import { LBFGS_HISTORY, planMemory } from "../src/pipeline/MemoryBudget.js";

const GiB = 2 ** 30;
const pixels = 4096 * 3072;

test("the plan gives up the least first: float64 in one session, then float32, then windows, then pairs", () => {
  const float64 = planMemory(pixels, Infinity)!;
  assert.deepEqual({ ...float64, bytes: 0 }, { bytes: 0, history: LBFGS_HISTORY, precision: "float64" });
  const float32 = planMemory(pixels, float64.bytes - 1)!;
  assert.equal(float32.precision, "float32");
  assert.equal(float32.windowPixels, undefined);
  assert.equal(float32.history, LBFGS_HISTORY);
  assert.ok(float32.bytes < float64.bytes);

  const windows = planMemory(pixels, float32.bytes - 1)!;
  assert.ok(windows.windowPixels! > 768 * 768, "large windows first");
  assert.equal(windows.history, LBFGS_HISTORY);
  assert.equal(windows.precision, "float32");
  for (const plan of [float32, windows]) assert.ok(plan.bytes <= float64.bytes);
});

test("a tighter budget keeps good windows by giving up pairs, then takes 2 pairs and the largest windows", () => {
  let previous = planMemory(pixels, 17 * GiB)!;
  const seen: number[] = [];
  for (let budget = 16 * GiB; budget >= 3 * GiB; budget -= GiB / 4) {
    const plan = planMemory(pixels, budget);
    if (!plan) break;
    assert.ok(plan.bytes <= budget, `${plan.bytes} > ${budget}`);
    assert.ok(plan.history <= previous.history, "pairs never come back as the budget shrinks");
    if (plan.windowPixels! < 768 * 768) assert.equal(plan.history, 2, `${plan.windowPixels} px windows with ${plan.history} pairs`);
    seen.push(plan.history);
    previous = plan;
  }
  assert.ok(seen.includes(LBFGS_HISTORY) && seen.includes(2) && seen.some((h) => h > 2 && h < LBFGS_HISTORY), `histories seen: ${seen}`);
  assert.ok(planMemory(pixels, 4 * GiB), "4096x3072 fits in 4 GiB");
  assert.equal(planMemory(pixels, 2 * GiB), undefined, "nothing fits in 2 GiB");
});
