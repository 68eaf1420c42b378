import { test } from "node:test";
import assert from "node:assert/strict";
import { Lbfgs } from "../src/optim/Lbfgs.js";
import { MoreThuente, type LineSearchParams } from "../src/optim/MoreThuente.js";
import type { Objective, Vector } from "../src/optim/Optimizer.js";
import { PasticheError } from "../src/errors.js";

function rosenbrock(x: Vector): { value: number; grad: Float64Array } {
  let value = 0;
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length - 1; i++) {
    const a = x[i + 1] - x[i] * x[i];
    const b = 1 - x[i];
    value += 100 * a * a + b * b;
    grad[i] += -400 * x[i] * a - 2 * b;
    grad[i + 1] += 200 * a;
  }
  return { value, grad };
}

const rosenbrockStart = (n: number) => new Float64Array(n).map((_, i) => (i % 2 === 0 ? -1.2 : 1));

/** Wraps f to record every point and value it was asked for. */
function recorded(f: (x: Vector) => { value: number; grad: Float64Array }) {
  const points: Float64Array[] = [];
  const values: number[] = [];
  const objective: Objective = async (x) => {
    points.push(new Float64Array(x));
    const out = f(x);
    values.push(out.value);
    return out;
  };
  return { objective, points, values };
}

function maxDistance(x: Vector, to: (i: number) => number): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - to(i)));
  return m;
}

function maxAbs(a: Vector): number {
  return maxDistance(a, () => 0);
}

// Measured: 44, 88 and 608 evaluations with the default options (scipy 1.17 fmin_l_bfgs_b: 44, 88, 613).
for (const [n, maxEvaluations] of [
  [2, 50],
  [10, 100],
  [100, 700],
] as const) {
  test(`Rosenbrock ${n}-D with scipy's defaults converges like fmin_l_bfgs_b`, async () => {
    const r = await new Lbfgs().minimize(async (x) => rosenbrock(x), rosenbrockStart(n));
    assert.equal(r.reason, "converged-factr");
    assert.ok(maxDistance(r.x, () => 1) < 1e-4, `distance ${maxDistance(r.x, () => 1)}`);
    assert.ok(r.evaluations <= maxEvaluations, `${r.evaluations} evaluations`);
    assert.ok(r.iterations < r.evaluations);
  });
}

// Measured: 46, 94 and 623 evaluations.
for (const [n, maxEvaluations] of [
  [2, 55],
  [10, 110],
  [100, 700],
] as const) {
  test(`Rosenbrock ${n}-D reaches all ones within 1e-7 with factr 10`, async () => {
    const r = await new Lbfgs({ factr: 10, pgtol: 1e-10 }).minimize(async (x) => rosenbrock(x), rosenbrockStart(n));
    assert.ok(maxDistance(r.x, () => 1) < 1e-7, `distance ${maxDistance(r.x, () => 1)}`);
    assert.ok(r.value < 1e-14);
    assert.ok(r.evaluations <= maxEvaluations, `${r.evaluations} evaluations`);
  });
}

test("ill-conditioned quadratic (100-D, condition 1e4) reaches its minimum", async () => {
  const n = 100;
  const lambda = new Float64Array(n).map((_, i) => 1e4 ** (i / (n - 1)));
  const centre = (i: number) => Math.sin(i + 1);
  const f: Objective = async (x) => {
    let value = 0;
    const grad = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d = x[i] - centre(i);
      value += 0.5 * lambda[i] * d * d;
      grad[i] = lambda[i] * d;
    }
    return { value, grad };
  };
  // Measured: 921 evaluations (scipy: 905).
  const r = await new Lbfgs({ factr: 10, pgtol: 1e-8 }).minimize(f, new Float64Array(n));
  assert.ok(maxDistance(r.x, centre) < 1e-6, `distance ${maxDistance(r.x, centre)}`);
  assert.ok(r.evaluations <= 1000, `${r.evaluations} evaluations`);
});

test("a float32 start keeps every vector in float32 and follows the float64 path on Rosenbrock", async () => {
  const f: Objective = async (x) => {
    const out = rosenbrock(x);
    // A float32 objective, as the engine's sessions are: the optimiser must not widen it.
    return { value: out.value, grad: Float32Array.from(out.grad) };
  };
  const seen: Vector[] = [];
  const r32 = await new Lbfgs({ maxfun: 150 }).minimize(async (x) => {
    seen.push(x);
    return f(x);
  }, Float32Array.from(rosenbrockStart(10)));
  const r64 = await new Lbfgs({ maxfun: 150 }).minimize(f, rosenbrockStart(10));
  assert.ok(seen.every((x) => x instanceof Float32Array), "every point evaluated is float32");
  assert.ok(r32.x instanceof Float32Array && r32.grad instanceof Float32Array);
  assert.ok(r64.x instanceof Float64Array && r64.grad instanceof Float64Array, "a float32 gradient is widened for a float64 point");
  // Rounding steers a nonconvex path a little; both still get close to the minimum at 1.
  assert.ok(r32.value < 1e-3 && r64.value < 1e-3, `float32 ${r32.value}, float64 ${r64.value}`);
  assert.ok(maxDistance(r32.x, () => 1) < 0.05, `distance ${maxDistance(r32.x, () => 1)}`);
});

test("maxfun is never exceeded, even mid line search, and the best point seen is returned", async () => {
  for (let maxfun = 1; maxfun <= 40; maxfun++) {
    const rec = recorded(rosenbrock);
    const r = await new Lbfgs({ maxfun }).minimize(rec.objective, rosenbrockStart(2));
    assert.equal(r.reason, "maxfun");
    assert.equal(r.evaluations, maxfun);
    assert.equal(rec.values.length, maxfun);
    const best = rec.values.indexOf(Math.min(...rec.values));
    assert.equal(r.value, rec.values[best]);
    assert.deepEqual(r.x, rec.points[best]);
    assert.deepEqual(r.grad, rosenbrock(rec.points[best]).grad);
  }
});

test("maxiter counts accepted steps", async () => {
  const r = await new Lbfgs({ maxiter: 5 }).minimize(async (x) => rosenbrock(x), rosenbrockStart(2));
  assert.equal(r.reason, "maxiter");
  assert.equal(r.iterations, 5);
  assert.ok(r.evaluations > 5);
});

test("pgtol stops once max|g_i| <= pgtol, and a tighter pgtol goes further", async () => {
  const loose = await new Lbfgs({ pgtol: 1e-2, factr: 0 }).minimize(async (x) => rosenbrock(x), rosenbrockStart(10));
  assert.equal(loose.reason, "converged-pgtol");
  assert.ok(maxAbs(loose.grad) <= 1e-2);
  const tight = await new Lbfgs({ pgtol: 1e-8, factr: 0 }).minimize(async (x) => rosenbrock(x), rosenbrockStart(10));
  assert.equal(tight.reason, "converged-pgtol");
  assert.ok(maxAbs(tight.grad) <= 1e-8);
  assert.ok(tight.evaluations > loose.evaluations);

  const atMinimum = await new Lbfgs().minimize(async (x) => rosenbrock(x), new Float64Array([1, 1]));
  assert.deepEqual(
    { reason: atMinimum.reason, evaluations: atMinimum.evaluations, iterations: atMinimum.iterations },
    { reason: "converged-pgtol", evaluations: 1, iterations: 0 },
  );
});

test("factr stops on a small relative reduction of f between iterates", async () => {
  for (const factr of [1e12, 1e7]) {
    const rec = recorded(rosenbrock);
    const r = await new Lbfgs({ factr, pgtol: 0 }).minimize(rec.objective, rosenbrockStart(2));
    assert.equal(r.reason, "converged-factr");
    // The last two distinct iterate values are the two smallest values seen, since f decreases.
    const [f1, f0] = [...new Set(rec.values)].sort((a, b) => a - b);
    assert.ok((f0 - f1) / Math.max(Math.abs(f0), Math.abs(f1), 1) <= factr * Number.EPSILON);
  }
  const coarse = await new Lbfgs({ factr: 1e12 }).minimize(async (x) => rosenbrock(x), rosenbrockStart(2));
  const fine = await new Lbfgs({ factr: 1e7 }).minimize(async (x) => rosenbrock(x), rosenbrockStart(2));
  assert.ok(coarse.evaluations < fine.evaluations);
  assert.ok(coarse.value > fine.value);
});

test("every call starts with an empty history: a steepest-descent step of length 1", async () => {
  const lbfgs = new Lbfgs({ maxfun: 15 });
  const first = await lbfgs.minimize(async (x) => rosenbrock(x), rosenbrockStart(2));
  const rec = recorded(rosenbrock);
  const second = await lbfgs.minimize(rec.objective, first.x);
  assert.deepEqual(rec.points[0], first.x);
  const g = rosenbrock(first.x).grad;
  const norm = Math.hypot(...g);
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(rec.points[1][i] - (first.x[i] - g[i] / norm)) < 1e-15);
  // And the same call on a fresh instance is identical.
  const again = await new Lbfgs({ maxfun: 15 }).minimize(async (x) => rosenbrock(x), first.x);
  assert.deepEqual(again, second);
});

test("a shorter history still converges, differently", async () => {
  const short = await new Lbfgs({ history: 2 }).minimize(async (x) => rosenbrock(x), rosenbrockStart(10));
  const long = await new Lbfgs().minimize(async (x) => rosenbrock(x), rosenbrockStart(10));
  assert.ok(maxDistance(short.x, () => 1) < 1e-3);
  assert.notEqual(short.evaluations, long.evaluations);
});

test("an aborted signal stops before the next evaluation and returns the best point", async () => {
  const controller = new AbortController();
  const rec = recorded(rosenbrock);
  const objective: Objective = async (x) => {
    if (rec.values.length === 6) controller.abort();
    return rec.objective(x);
  };
  const r = await new Lbfgs({ signal: controller.signal }).minimize(objective, rosenbrockStart(2));
  assert.equal(r.reason, "aborted");
  assert.equal(r.evaluations, 7);
  assert.equal(rec.values.length, 7);
  assert.equal(r.value, Math.min(...rec.values));

  await assert.rejects(
    new Lbfgs({ signal: AbortSignal.abort() }).minimize(rec.objective, rosenbrockStart(2)),
    (e: unknown) => e instanceof PasticheError && e.code === "CANCELLED",
  );
  assert.equal(rec.values.length, 7);
});

test("a non-finite value or gradient is rejected with LOSS_NOT_FINITE", async () => {
  for (const poison of [
    (o: { value: number; grad: Float64Array }) => ({ value: NaN, grad: o.grad }),
    (o: { value: number; grad: Float64Array }) => ({ value: Infinity, grad: o.grad }),
    (o: { value: number; grad: Float64Array }) => ({ value: o.value, grad: o.grad.map((g, i) => (i === 1 ? -Infinity : g)) }),
  ]) {
    let calls = 0;
    const f: Objective = async (x) => {
      const o = rosenbrock(x);
      return ++calls === 4 ? poison(o) : o;
    };
    await assert.rejects(
      new Lbfgs().minimize(f, rosenbrockStart(2)),
      (e: unknown) => e instanceof PasticheError && e.code === "LOSS_NOT_FINITE",
    );
    assert.equal(calls, 4);
  }
});

test("a failed line search forgets the history, retries along -g, then gives up", async () => {
  // sum (i+1) x_i^2 whose gradient turns into a lie (wrong sign) after the first evaluation, so
  // after one accepted step no step along the claimed descent direction lowers f.
  let calls = 0;
  const rec = recorded((x) => {
    calls++;
    let value = 0;
    const grad = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      value += (i + 1) * x[i] * x[i];
      grad[i] = (calls === 1 ? 2 : -2) * (i + 1) * x[i];
    }
    return { value, grad };
  });
  const r = await new Lbfgs().minimize(rec.objective, new Float64Array([1, 1, 1]));
  assert.equal(r.reason, "line-search-failed");
  assert.equal(r.iterations, 1);
  // 2 evaluations for the first step, 20 in the quasi-Newton search, 20 in the steepest-descent retry.
  assert.equal(r.evaluations, 42);
  assert.equal(r.value, Math.min(...rec.values));
  const x1 = rec.points[1];
  const retryStart = x1.map((xi, i) => xi + 2 * (i + 1) * xi); // x1 - g1 with the lying g1
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(rec.points[22][i] - retryStart[i]) < 1e-15);
});

test("invalid options are refused", () => {
  assert.throws(() => new Lbfgs({ history: 0 }), RangeError);
  assert.throws(() => new Lbfgs({ maxfun: 2.5 }), RangeError);
  assert.throws(() => new Lbfgs({ pgtol: -1 }), RangeError);
});

type Phi = (a: number) => [number, number];

function runLineSearch(phi: Phi, stp0: number, p: LineSearchParams) {
  const [f0, g0] = phi(0);
  const search = new MoreThuente(f0, g0, stp0, p);
  for (let evaluations = 1; ; evaluations++) {
    const [f, g] = phi(search.stp);
    const status = search.update(f, g);
    if (status.kind !== "evaluate") {
      const strongWolfe = f <= f0 + p.ftol * status.stp * g0 && Math.abs(g) <= p.gtol * Math.abs(g0);
      return { status, evaluations, strongWolfe, g };
    }
    assert.ok(evaluations < 100, "line search does not terminate");
  }
}

const yanai = (b1: number, b2: number): Phi => {
  const c1 = Math.sqrt(1 + b1 * b1) - b1;
  const c2 = Math.sqrt(1 + b2 * b2) - b2;
  return (a) => {
    const r1 = Math.sqrt((1 - a) ** 2 + b2 * b2);
    const r2 = Math.sqrt(a * a + b1 * b1);
    return [c1 * r1 + c2 * r2, (-c1 * (1 - a)) / r1 + (c2 * a) / r2];
  };
};

test("Moré–Thuente reproduces the paper's tables and ends on strong Wolfe steps", () => {
  // Functions 1-6 of Moré & Thuente (1994) with their ftol, gtol and the evaluation counts of
  // Tables I-VI for initial steps 1e-3, 1e-1, 1e1, 1e3.
  const cases: [Phi, number, number, number[]][] = [
    [(a) => [-a / (a * a + 2), (a * a - 2) / (a * a + 2) ** 2], 1e-3, 0.1, [6, 3, 1, 4]],
    [(a) => [(a + 0.004) ** 5 - 2 * (a + 0.004) ** 4, 5 * (a + 0.004) ** 4 - 8 * (a + 0.004) ** 3], 0.1, 0.1, [12, 8, 8, 11]],
    [
      (a) => {
        const b = 0.01;
        const l = 39;
        const [f, g] = a <= 1 - b ? [1 - a, -1] : a >= 1 + b ? [a - 1, 1] : [(a - 1) ** 2 / (2 * b) + b / 2, (a - 1) / b];
        return [
          f + ((2 * (1 - b)) / (l * Math.PI)) * Math.sin((l * Math.PI * a) / 2),
          g + (1 - b) * Math.cos((l * Math.PI * a) / 2),
        ];
      },
      0.1,
      0.1,
      [12, 12, 10, 13],
    ],
    [yanai(0.001, 0.001), 0.001, 0.001, [4, 1, 3, 4]],
    [yanai(0.01, 0.001), 0.001, 0.001, [6, 3, 7, 8]],
    [yanai(0.001, 0.01), 0.001, 0.001, [13, 11, 8, 11]],
  ];
  for (const [phi, ftol, gtol, counts] of cases) {
    [1e-3, 1e-1, 1e1, 1e3].forEach((stp0, k) => {
      const r = runLineSearch(phi, stp0, { ftol, gtol, xtol: 1e-10, stpmin: 0, stpmax: 1e10 });
      assert.equal(r.status.kind, "converged");
      assert.ok(r.strongWolfe);
      assert.equal(r.evaluations, counts[k]);
    });
  }
});

test("with L-BFGS-B's parameters the search ends on strong Wolfe steps along Rosenbrock lines", () => {
  const p = { ftol: 1e-3, gtol: 0.9, xtol: 0.1, stpmin: 0, stpmax: 1e10 };
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2;
  for (let k = 0; k < 200; k++) {
    const x = new Float64Array(10).map(random);
    const d = rosenbrock(x).grad.map((g) => -g);
    const phi: Phi = (a) => {
      const out = rosenbrock(x.map((xi, i) => xi + a * d[i]));
      return [out.value, out.grad.reduce((s, g, i) => s + g * d[i], 0)];
    };
    for (const stp0 of [1 / Math.hypot(...d), 1]) {
      const r = runLineSearch(phi, stp0, p);
      assert.equal(r.status.kind, "converged");
      assert.ok(r.strongWolfe);
    }
  }
});
