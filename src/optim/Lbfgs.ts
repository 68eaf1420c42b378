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
 * H0 = (s.y / y.y) I from the newest pair. Each `minimize` call starts with an empty history (in
 * the same arrays as the last call, when its dimension and precision are the same).
 */
export class Lbfgs implements Optimizer {
  private readonly history: number;
  private readonly maxfun: number;
  private readonly maxiter: number;
  private readonly pgtol: number;
  private readonly factr: number;
  private readonly signal: AbortSignal | undefined;
  /** Kept between calls of the same dimension and precision, emptied at the start of each. */
  private pairs: Pairs | undefined;

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
    if (this.pairs?.fits(x0) !== true) this.pairs = new Pairs(this.history, x0);
    const pairs = this.pairs;
    pairs.clear();
    // x0 is never modified: new points are new arrays, so at print sizes no copy is needed.
    let current = await log.evaluate(x0);
    if (maxAbs(current.grad) <= this.pgtol) return log.result("converged-pgtol", 0);
    const d = vectorLike(x0);
    let iterations = 0;
    for (;;) {
      pairs.direction(current.grad, d);
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

      const { s, y } = pairs.candidate;
      for (let i = 0; i < s.length; i++) {
        s[i] = current.x[i] - previous.x[i];
        y[i] = current.grad[i] - previous.grad[i];
      }
      const sy = dot(s, y);
      const yy = dot(y, y);
      // Without enough curvature the update would make H indefinite or blow it up.
      if (sy > EPS * yy) pairs.accept(sy, yy);
    }
  }
}

/**
 * The newest `capacity` correction pairs s = x_{k+1} - x_k, y = g_{k+1} - g_k, in capacity + 1 slots
 * allocated and written once, before the first evaluation: at print sizes each is hundreds of
 * megabytes, and a run's peak memory is then reached at its start rather than hours into it.
 */
class Pairs {
  private readonly slots: { s: Vector; y: Vector }[];
  /** Slots in use, oldest first, with their 1/(s.y). */
  private readonly used: { s: Vector; y: Vector; rho: number }[] = [];
  private gamma = 1;

  constructor(capacity: number, like: Vector) {
    this.slots = Array.from({ length: capacity + 1 }, () => ({ s: vectorLike(like).fill(0), y: vectorLike(like).fill(0) }));
  }

  get empty(): boolean {
    return this.used.length === 0;
  }

  /** Whether the slots have x's dimension and precision. */
  fits(x: Vector): boolean {
    return this.slots[0].s.length === x.length && this.slots[0].s.constructor === x.constructor;
  }

  /** The free slot, for the next pair to be written into before `accept`. */
  get candidate(): { s: Vector; y: Vector } {
    return this.slots.find((slot) => !this.used.some((u) => u.s === slot.s))!;
  }

  /** Keeps the candidate, dropping the oldest pair when all slots are in use. */
  accept(sy: number, yy: number): void {
    const slot = this.candidate;
    if (this.used.length === this.slots.length - 1) this.used.shift();
    this.used.push({ ...slot, rho: 1 / sy });
    this.gamma = sy / yy;
  }

  clear(): void {
    this.used.length = 0;
    this.gamma = 1;
  }

  /** -H g by the two-loop recursion, into q. */
  direction(g: Vector, q: Vector): void {
    const k = this.used.length;
    for (let i = 0; i < q.length; i++) q[i] = -g[i];
    const alpha = new Array<number>(k);
    for (let j = k - 1; j >= 0; j--) {
      const { s, y, rho } = this.used[j];
      alpha[j] = rho * dot(s, q);
      axpy(-alpha[j], y, q);
    }
    for (let i = 0; i < q.length; i++) q[i] *= this.gamma;
    for (let j = 0; j < k; j++) {
      const { s, y, rho } = this.used[j];
      const beta = rho * dot(y, q);
      axpy(alpha[j] - beta, s, q);
    }
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
