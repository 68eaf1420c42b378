import { MoreThuente, type LineSearchParams } from "./MoreThuente.js";
import { EvaluationLog, dot, maxAbs, vectorLike, type Evaluation, type MinimizeResult, type Objective, type Optimizer, type Vector } from "./Optimizer.js";

export interface LbfgsOptions {
  /** Correction pairs kept (scipy's m). Default 10. */
  history?: number;
  /** Evaluations allowed per `minimize` call, never exceeded. Default 15000. */
  maxfun?: number;
  /** Accepted steps allowed per call. Default 15000. */
  maxiter?: number;
  /** Stop when max|g_i| <= pgtol. Default 1e-5. */
  pgtol?: number;
  /** Stop when the relative reduction of f is <= factr * machine epsilon. Default 1e7. */
  factr?: number;
  signal?: AbortSignal;
}

const EPS = Number.EPSILON;
// L-BFGS-B's values: a loose line search, since the quasi-Newton step is usually good as it is.
const LINE_SEARCH = { ftol: 1e-3, gtol: 0.9, xtol: 0.1, stpmin: 0, stpmax: 1e10 } satisfies LineSearchParams;
/** Evaluations per line search before it counts as failed (scipy's maxls). */
const MAX_LINE_SEARCH = 20;

/**
 * Limited-memory BFGS as scipy's fmin_l_bfgs_b runs it without bounds (L-BFGS-B 3.0): without
 * bounds its Cauchy point and subspace minimisation reduce to the two-loop product d = -H g, with
 * H0 = (s.y / y.y) I from the newest pair. Each `minimize` call starts with an empty history.
 */
export class Lbfgs implements Optimizer {
  private readonly history: number;
  private readonly maxfun: number;
  private readonly maxiter: number;
  private readonly pgtol: number;
  private readonly factr: number;
  private readonly signal: AbortSignal | undefined;

  constructor(options: LbfgsOptions = {}) {
    this.history = positiveInteger("history", options.history ?? 10);
    this.maxfun = positiveInteger("maxfun", options.maxfun ?? 15000);
    this.maxiter = positiveInteger("maxiter", options.maxiter ?? 15000);
    this.pgtol = nonNegative("pgtol", options.pgtol ?? 1e-5);
    this.factr = nonNegative("factr", options.factr ?? 1e7);
    this.signal = options.signal;
  }

  async minimize(f: Objective, x0: Vector): Promise<MinimizeResult> {
    const log = new EvaluationLog(f, this.maxfun, this.signal);
    const blockedAtStart = log.blocked();
    if (blockedAtStart !== undefined) return log.result(blockedAtStart, 0);
    // x0 is never modified: new points are new arrays, so at print sizes no copy is needed.
    let current = await log.evaluate(x0);
    if (maxAbs(current.grad) <= this.pgtol) return log.result("converged-pgtol", 0);

    const pairs = new Pairs(this.history);
    // Arrays are reused where a step allows, since at print sizes each is hundreds of megabytes.
    let d: Vector | undefined;
    let spare: { s: Vector; y: Vector } | undefined;
    let iterations = 0;
    for (;;) {
      d = pairs.direction(current.grad, d ?? vectorLike(x0));
      const gd = dot(current.grad, d);
      // Only possible through rounding, since H is positive definite; as L-BFGS-B, retry along -g.
      if (!(gd < 0)) {
        if (pairs.empty) return log.result("line-search-failed", iterations);
        pairs.clear();
        continue;
      }

      const stp0 = iterations === 0 ? Math.min(1 / Math.sqrt(dot(d, d)), LINE_SEARCH.stpmax) : 1;
      const search = new MoreThuente(current.value, gd, stp0, LINE_SEARCH);
      let accepted: Evaluation | undefined;
      for (let n = 0; n < MAX_LINE_SEARCH; n++) {
        const blocked = log.blocked();
        if (blocked !== undefined) return log.result(blocked, iterations);
        const stp = search.stp;
        const xt = vectorLike(x0);
        for (let i = 0; i < xt.length; i++) xt[i] = current.x[i] + stp * d[i];
        const trial = await log.evaluate(xt);
        if (search.update(trial.value, dot(trial.grad, d)).kind !== "evaluate") {
          accepted = trial;
          break;
        }
      }
      if (accepted === undefined) {
        // Stale curvature pairs can spoil the direction; L-BFGS-B forgets them and retries from x_k.
        if (pairs.empty) return log.result("line-search-failed", iterations);
        pairs.clear();
        continue;
      }

      const previous = current;
      current = accepted;
      iterations++;
      if (maxAbs(current.grad) <= this.pgtol) return log.result("converged-pgtol", iterations);
      const scale = Math.max(Math.abs(previous.value), Math.abs(current.value), 1);
      if (previous.value - current.value <= this.factr * EPS * scale) return log.result("converged-factr", iterations);
      if (iterations >= this.maxiter) return log.result("maxiter", iterations);

      const s = spare?.s ?? vectorLike(x0);
      const y = spare?.y ?? vectorLike(x0);
      for (let i = 0; i < s.length; i++) {
        s[i] = current.x[i] - previous.x[i];
        y[i] = current.grad[i] - previous.grad[i];
      }
      const sy = dot(s, y);
      const yy = dot(y, y);
      // Without enough curvature the update would make H indefinite or blow it up.
      spare = sy > EPS * yy ? pairs.push(s, y, sy, yy) : { s, y };
    }
  }
}

/** The newest `capacity` correction pairs s = x_{k+1} - x_k, y = g_{k+1} - g_k. */
class Pairs {
  private readonly s: Vector[] = [];
  private readonly y: Vector[] = [];
  private readonly rho: number[] = [];
  private gamma = 1;

  constructor(private readonly capacity: number) {}

  get empty(): boolean {
    return this.s.length === 0;
  }

  /** Adds a pair; returns the oldest one's arrays when it had to go. */
  push(s: Vector, y: Vector, sy: number, yy: number): { s: Vector; y: Vector } | undefined {
    let dropped: { s: Vector; y: Vector } | undefined;
    if (this.s.length === this.capacity) {
      dropped = { s: this.s.shift()!, y: this.y.shift()! };
      this.rho.shift();
    }
    this.s.push(s);
    this.y.push(y);
    this.rho.push(1 / sy);
    this.gamma = sy / yy;
    return dropped;
  }

  clear(): void {
    this.s.length = 0;
    this.y.length = 0;
    this.rho.length = 0;
    this.gamma = 1;
  }

  /** -H g by the two-loop recursion, into q. */
  direction(g: Vector, q: Vector): Vector {
    const k = this.s.length;
    for (let i = 0; i < q.length; i++) q[i] = -g[i];
    const alpha = new Array<number>(k);
    for (let j = k - 1; j >= 0; j--) {
      alpha[j] = this.rho[j] * dot(this.s[j], q);
      axpy(-alpha[j], this.y[j], q);
    }
    for (let i = 0; i < q.length; i++) q[i] *= this.gamma;
    for (let j = 0; j < k; j++) {
      const beta = this.rho[j] * dot(this.y[j], q);
      axpy(alpha[j] - beta, this.s[j], q);
    }
    return q;
  }
}

function axpy(a: number, x: Vector, y: Vector): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
}

function positiveInteger(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
  return v;
}
