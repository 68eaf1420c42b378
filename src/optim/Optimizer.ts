import { PasticheError } from "../errors.js";

/**
 * An optimiser's point, gradient and state. Its precision is the start point's: float64 as scipy's,
 * or float32, which halves an optimiser's memory at print sizes (pipeline/MemoryBudget decides).
 */
export type Vector = Float32Array | Float64Array;
export type Precision = "float64" | "float32";

export function newVector(precision: Precision, length: number): Vector {
  return precision === "float32" ? new Float32Array(length) : new Float64Array(length);
}

/** A zeroed vector of x's precision. */
export function vectorLike(x: Vector, length = x.length): Vector {
  return newVector(x instanceof Float32Array ? "float32" : "float64", length);
}

/**
 * The loss and its gradient at x. Must not modify x, and must return a new gradient array each
 * call: the optimiser keeps it (a float32 gradient for a float64 point is converted).
 */
export type Objective = (x: Vector) => Promise<{ value: number; grad: Vector }>;

/** Why `minimize` returned. */
export type StopReason =
  /** max|g_i| <= pgtol. */
  | "converged-pgtol"
  /** The relative reduction of f in the last iteration was <= factr * machine epsilon. */
  | "converged-factr"
  /** The evaluation budget (maxfun, or Adam's steps) is used up. */
  | "maxfun"
  | "maxiter"
  /** The line search found no acceptable step even along the steepest descent. */
  | "line-search-failed"
  /** The signal was aborted after at least one evaluation. */
  | "aborted";

export interface MinimizeResult {
  /** The point with the lowest value evaluated during this call, with its value and gradient. */
  x: Vector;
  value: number;
  grad: Vector;
  /** Objective evaluations made by this call. */
  evaluations: number;
  /** Accepted steps (L-BFGS) or parameter updates (Adam). */
  iterations: number;
  reason: StopReason;
}

/**
 * What the pipeline needs from an optimiser: improve x0 within the optimiser's budget.
 *
 * Abort: the signal is checked before every evaluation. Once something has been evaluated the call
 * returns its best point with reason "aborted"; if the signal was already aborted before the first
 * evaluation there is no point to return and it throws PasticheError("CANCELLED").
 * A non-finite value or gradient throws PasticheError("LOSS_NOT_FINITE"); the caller keeps x0.
 */
export interface Optimizer {
  minimize(f: Objective, x0: Vector): Promise<MinimizeResult>;
}

export interface Evaluation {
  x: Vector;
  value: number;
  grad: Vector;
}

/**
 * Counts evaluations against a budget, checks they are finite and keeps the best one, so that every
 * way out of an optimiser returns a point that was actually evaluated.
 */
export class EvaluationLog {
  evaluations = 0;
  private best: Evaluation | undefined;

  constructor(
    private readonly f: Objective,
    private readonly maxfun: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Why no further evaluation may be made, if that is so. */
  blocked(): "aborted" | "maxfun" | undefined {
    if (this.signal?.aborted) return "aborted";
    if (this.evaluations >= this.maxfun) return "maxfun";
    return undefined;
  }

  /** Evaluates f at x, which the log then owns: the caller must not modify it afterwards. */
  async evaluate(x: Vector): Promise<Evaluation> {
    const out = await this.f(x);
    this.evaluations++;
    if (out.grad.length !== x.length) {
      throw new Error(`objective returned a gradient of length ${out.grad.length} for ${x.length} variables`);
    }
    if (!Number.isFinite(out.value) || !out.grad.every(Number.isFinite)) {
      throw new PasticheError(
        "LOSS_NOT_FINITE",
        `the loss or its gradient is not finite at evaluation ${this.evaluations} (loss ${out.value})`,
      );
    }
    let grad = out.grad;
    if (grad.constructor !== x.constructor) {
      grad = vectorLike(x);
      grad.set(out.grad);
    }
    const e: Evaluation = { x, value: out.value, grad };
    if (this.best === undefined || e.value < this.best.value) this.best = e;
    return e;
  }

  result(reason: StopReason, iterations: number): MinimizeResult {
    if (this.best === undefined) {
      throw new PasticheError("CANCELLED", "cancelled before the first evaluation");
    }
    const { x, value, grad } = this.best;
    return { x, value, grad, evaluations: this.evaluations, iterations, reason };
  }
}

/** Accumulated in float64 whatever the vectors' precision. */
export function dot(a: Vector, b: Vector): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function maxAbs(a: Vector): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
