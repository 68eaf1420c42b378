import { test } from "node:test";
import assert from "node:assert/strict";
import { Adam } from "../src/optim/Adam.js";
import type { Objective, Vector } from "../src/optim/Optimizer.js";
import { PasticheError } from "../src/errors.js";

const n = 20;
const centre = (i: number) => Math.cos(i) * 3;

/** 0.5 sum_i (i+1) (x_i - c_i)^2 */
const quadratic: Objective = async (x) => {
  let value = 0;
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - centre(i);
    value += 0.5 * (i + 1) * d * d;
    grad[i] = (i + 1) * d;
  }
  return { value, grad };
};

/** sum_i log cosh(x_i - c_i) + 0.05 (x_i - c_i)^2: convex, nearly linear far out, minimum at c. */
const logCosh: Objective = async (x) => {
  let value = 0;
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - centre(i);
    value += Math.log(Math.cosh(d)) + 0.05 * d * d;
    grad[i] = Math.tanh(d) + 0.1 * d;
  }
  return { value, grad };
};

function recorded(f: Objective) {
  const points: Float64Array[] = [];
  const values: number[] = [];
  const objective: Objective = async (x) => {
    points.push(new Float64Array(x));
    const out = await f(x);
    values.push(out.value);
    return out;
  };
  return { objective, points, values };
}

function maxDistanceToCentre(x: Vector): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - centre(i)));
  return m;
}

test("Adam decreases a quadratic, using exactly `steps` evaluations", async () => {
  const rec = recorded(quadratic);
  const r = await new Adam({ lr: 0.1, steps: 50 }).minimize(rec.objective, new Float64Array(n));
  assert.equal(r.reason, "maxfun");
  assert.equal(r.evaluations, 50);
  assert.equal(r.iterations, 49);
  assert.equal(rec.values.length, 50);
  assert.ok(r.value < rec.values[0] / 10, `${rec.values[0]} -> ${r.value}`);
  assert.equal(r.value, Math.min(...rec.values));
});

test("Adam reaches the minimum of a convex function", async () => {
  // Measured: within 2e-15 of the minimum after 1000 evaluations.
  const r = await new Adam({ lr: 0.05, steps: 1000 }).minimize(logCosh, new Float64Array(n).fill(10));
  assert.ok(maxDistanceToCentre(r.x) < 1e-9, `distance ${maxDistanceToCentre(r.x)}`);
});

test("the first update moves every coordinate by lr against the gradient's sign", async () => {
  const rec = recorded(quadratic);
  const x0 = new Float64Array(n);
  await new Adam({ lr: 0.25, steps: 2 }).minimize(rec.objective, x0);
  const g0 = (await quadratic(x0)).grad;
  for (let i = 0; i < n; i++) assert.ok(Math.abs(rec.points[1][i] - (x0[i] - 0.25 * Math.sign(g0[i]))) < 1e-7);
});

test("moments carry over between calls while the dimension stays the same", async () => {
  const x0 = new Float64Array(n);
  const continued = new Adam({ lr: 0.1, steps: 10 });
  const first = await continued.minimize(quadratic, x0);
  const second = await continued.minimize(quadratic, first.x);
  const fresh = await new Adam({ lr: 0.1, steps: 10 }).minimize(quadratic, first.x);
  assert.notDeepEqual(second.x, fresh.x);

  const otherSize = await continued.minimize(quadratic, new Float64Array(n + 1));
  const freshOtherSize = await new Adam({ lr: 0.1, steps: 10 }).minimize(quadratic, new Float64Array(n + 1));
  assert.deepEqual(otherSize, freshOtherSize);
});

test("Adam stops on abort with the best point, and rejects non-finite losses", async () => {
  const controller = new AbortController();
  const rec = recorded(quadratic);
  const objective: Objective = async (x) => {
    if (rec.values.length === 4) controller.abort();
    return rec.objective(x);
  };
  const r = await new Adam({ lr: 0.1, steps: 100, signal: controller.signal }).minimize(objective, new Float64Array(n));
  assert.equal(r.reason, "aborted");
  assert.equal(r.evaluations, 5);
  assert.equal(r.value, Math.min(...rec.values));

  await assert.rejects(
    new Adam({ signal: AbortSignal.abort() }).minimize(quadratic, new Float64Array(n)),
    (e: unknown) => e instanceof PasticheError && e.code === "CANCELLED",
  );

  let calls = 0;
  const poisoned: Objective = async (x) => {
    const o = await quadratic(x);
    return ++calls === 3 ? { value: o.value, grad: o.grad.map(() => NaN) } : o;
  };
  await assert.rejects(
    new Adam({ steps: 10 }).minimize(poisoned, new Float64Array(n)),
    (e: unknown) => e instanceof PasticheError && e.code === "LOSS_NOT_FINITE",
  );
});

test("invalid Adam options are refused", () => {
  assert.throws(() => new Adam({ lr: 0 }), RangeError);
  assert.throws(() => new Adam({ beta1: 1 }), RangeError);
  assert.throws(() => new Adam({ steps: 0 }), RangeError);
});

test("a float32 start keeps Adam's moments and points in float32; a float64 one after it starts afresh", async () => {
  const adam = new Adam({ lr: 0.1, steps: 30 });
  const r32 = await adam.minimize(quadratic, new Float32Array(n));
  assert.ok(r32.x instanceof Float32Array, "float32 point");
  const r64 = await adam.minimize(quadratic, new Float64Array(n));
  const fresh = await new Adam({ lr: 0.1, steps: 30 }).minimize(quadratic, new Float64Array(n));
  assert.ok(r64.x instanceof Float64Array);
  assert.deepEqual(r64.x, fresh.x, "the float32 run's moments were not carried into the float64 one");
  assert.ok(Math.abs(r32.value - fresh.value) <= 1e-4 * fresh.value, `float32 ${r32.value}, float64 ${fresh.value}`);
});
