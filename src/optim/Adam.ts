import { EvaluationLog, vectorLike, type MinimizeResult, type Objective, type Optimizer, type Vector } from "./Optimizer.js";

export interface AdamOptions {
  /** Default 1e-3 (Kingma & Ba); image pixels in 0..255 want far more. */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Evaluations per `minimize` call. Default 100. */
  steps?: number;
  signal?: AbortSignal;
}

/**
 * Adam (Kingma & Ba 2015). Each `minimize` call makes `steps` evaluations and updates x after each
 * but the last. Unlike Lbfgs, the moment estimates carry over to the next call while the dimension
 * stays the same: the pipeline calls it once per outer iteration, and restarting the moments would
 * make each restart's first update a full-size sign step. A new dimension or precision starts them afresh.
 */
export class Adam implements Optimizer {
  private readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly steps: number;
  private readonly signal: AbortSignal | undefined;
  private m: Vector = new Float64Array(0);
  private v: Vector = new Float64Array(0);
  /** Updates made since the moments were started, for the bias correction. */
  private t = 0;

  constructor(options: AdamOptions = {}) {
    this.lr = positive("lr", options.lr ?? 1e-3);
    this.beta1 = fraction("beta1", options.beta1 ?? 0.9);
    this.beta2 = fraction("beta2", options.beta2 ?? 0.999);
    this.eps = positive("eps", options.eps ?? 1e-8);
    const steps = options.steps ?? 100;
    if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
    this.steps = steps;
    this.signal = options.signal;
  }

  async minimize(f: Objective, x0: Vector): Promise<MinimizeResult> {
    if (this.m.length !== x0.length || this.m.constructor !== x0.constructor) {
      this.m = vectorLike(x0);
      this.v = vectorLike(x0);
      this.t = 0;
    }
    const { m, v, beta1, beta2 } = this;
    const log = new EvaluationLog(f, this.steps, this.signal);
    let x = x0;
    for (let updates = 0; ; updates++) {
      const blocked = log.blocked();
      if (blocked !== undefined) return log.result(blocked, updates);
      const { grad } = await log.evaluate(x);
      if (log.evaluations === this.steps) return log.result("maxfun", updates);
      this.t++;
      const c1 = 1 - beta1 ** this.t;
      const c2 = 1 - beta2 ** this.t;
      // A new array each step: the log keeps the evaluated ones as candidates for the best point.
      const next = vectorLike(x);
      for (let i = 0; i < x.length; i++) {
        m[i] = beta1 * m[i] + (1 - beta1) * grad[i];
        v[i] = beta2 * v[i] + (1 - beta2) * grad[i] * grad[i];
        next[i] = x[i] - (this.lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + this.eps);
      }
      x = next;
    }
  }
}

function positive(name: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number > 0, got ${v}`);
  return v;
}

function fraction(name: string, v: number): number {
  if (!(v >= 0 && v < 1)) throw new RangeError(`${name} must be in [0, 1), got ${v}`);
  return v;
}
