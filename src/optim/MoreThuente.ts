/**
 * The line search of Moré & Thuente, "Line search algorithms with guaranteed sufficient decrease"
 * (ACM TOMS 20, 1994), in the form of MINPACK-2's dcsrch/dcstep that L-BFGS-B uses.
 *
 * It works on phi(stp) = f(x + stp d) and looks for a step satisfying the strong Wolfe conditions
 *   phi(stp) <= phi(0) + ftol stp phi'(0)   and   |phi'(stp)| <= gtol |phi'(0)|.
 * The caller drives it: evaluate phi at `stp`, pass the result to `update`, repeat while it asks.
 */

export interface LineSearchParams {
  ftol: number;
  gtol: number;
  /** Relative width of the bracket below which the search gives up. */
  xtol: number;
  stpmin: number;
  stpmax: number;
}

export type LineSearchStatus =
  /** Evaluate phi at the new `stp`. */
  | { kind: "evaluate"; stp: number }
  /** The last evaluated step satisfies the strong Wolfe conditions. */
  | { kind: "converged"; stp: number }
  /**
   * No further progress is possible; `stp` is the last evaluated step, which satisfies at most the
   * conditions the warning implies (L-BFGS-B accepts it all the same).
   */
  | { kind: "warning"; stp: number; warning: "rounding" | "xtol" | "stpmax" | "stpmin" };

interface Point {
  stp: number;
  f: number;
  g: number;
}

const XTRAPL = 1.1;
const XTRAPU = 4;

export class MoreThuente {
  private step: number;
  private readonly gtest: number;
  private bracketed = false;
  /** Stage 2 starts once a step with sufficient decrease and phi' >= 0 has been seen. */
  private stage2 = false;
  private width: number;
  private width1: number;
  /** The best step so far (lowest value) and the other end of the interval of uncertainty. */
  private readonly x: Point;
  private readonly y: Point;
  private stmin: number;
  private stmax: number;

  constructor(
    private readonly finit: number,
    private readonly ginit: number,
    stp: number,
    private readonly p: LineSearchParams,
  ) {
    if (!(ginit < 0)) throw new RangeError(`not a descent direction: phi'(0) = ${ginit}`);
    if (!(stp >= p.stpmin && stp <= p.stpmax)) throw new RangeError(`initial step ${stp} outside [stpmin, stpmax]`);
    this.step = stp;
    this.gtest = p.ftol * ginit;
    this.width = p.stpmax - p.stpmin;
    this.width1 = 2 * this.width;
    this.x = { stp: 0, f: finit, g: ginit };
    this.y = { stp: 0, f: finit, g: ginit };
    this.stmin = 0;
    this.stmax = stp + XTRAPU * stp;
  }

  /** The step to evaluate next (or, after the search ended, the step it ended on). */
  get stp(): number {
    return this.step;
  }

  /** Takes phi and phi' at `stp` and decides what to do next. */
  update(f: number, g: number): LineSearchStatus {
    const { gtol, xtol, stpmin, stpmax } = this.p;
    const stp = this.step;
    const ftest = this.finit + stp * this.gtest;
    if (!this.stage2 && f <= ftest && g >= 0) this.stage2 = true;

    let warning: "rounding" | "xtol" | "stpmax" | "stpmin" | undefined;
    if (this.bracketed && (stp <= this.stmin || stp >= this.stmax)) warning = "rounding";
    if (this.bracketed && this.stmax - this.stmin <= xtol * this.stmax) warning = "xtol";
    if (stp === stpmax && f <= ftest && g <= this.gtest) warning = "stpmax";
    if (stp === stpmin && (f > ftest || g >= this.gtest)) warning = "stpmin";
    if (f <= ftest && Math.abs(g) <= gtol * -this.ginit) return { kind: "converged", stp };
    if (warning !== undefined) return { kind: "warning", stp, warning };

    const t: Point = { stp, f, g };
    let next: number;
    // In stage 1, while the value dropped but not enough, steer by psi(s) = phi(s) - s*gtest, whose
    // minimisers satisfy sufficient decrease: phi itself can lead the search to steps that never will.
    if (!this.stage2 && f <= this.x.f && f > ftest) {
      for (const q of [this.x, this.y, t]) {
        q.f -= q.stp * this.gtest;
        q.g -= this.gtest;
      }
      next = this.safeguardedStep(t);
      for (const q of [this.x, this.y]) {
        q.f += q.stp * this.gtest;
        q.g += this.gtest;
      }
    } else {
      next = this.safeguardedStep(t);
    }

    const { x, y } = this;
    if (this.bracketed) {
      // Bisect when the interval did not shrink enough over the last two steps.
      if (Math.abs(y.stp - x.stp) >= 0.66 * this.width1) next = x.stp + 0.5 * (y.stp - x.stp);
      this.width1 = this.width;
      this.width = Math.abs(y.stp - x.stp);
      this.stmin = Math.min(x.stp, y.stp);
      this.stmax = Math.max(x.stp, y.stp);
    } else {
      this.stmin = next + XTRAPL * (next - x.stp);
      this.stmax = next + XTRAPU * (next - x.stp);
    }
    next = Math.min(Math.max(next, stpmin), stpmax);
    // Out of room: try the best step once more, so the next update ends the search on it.
    if (this.bracketed && (next <= this.stmin || next >= this.stmax || this.stmax - this.stmin <= xtol * this.stmax)) {
      next = x.stp;
    }
    this.step = next;
    return { kind: "evaluate", stp: next };
  }

  /**
   * dcstep: the next trial step from the cubic and quadratic/secant interpolants of the interval
   * ends and the trial t, safeguarded to [stmin, stmax]; then moves t into the interval.
   */
  private safeguardedStep(t: Point): number {
    const { x, y } = this;
    const lo = this.stmin;
    const hi = this.stmax;
    const sgnd = t.g * Math.sign(x.g);
    let next: number;
    if (t.f > x.f) {
      // Higher value: a minimiser lies between x and t. Prefer the cubic unless it is much farther.
      const stpc = cubicMinimizer(x, t).stp;
      const stpq = x.stp + (x.g / ((x.f - t.f) / (t.stp - x.stp) + x.g) / 2) * (t.stp - x.stp);
      next = Math.abs(stpc - x.stp) < Math.abs(stpq - x.stp) ? stpc : stpc + (stpq - stpc) / 2;
      this.bracketed = true;
    } else if (sgnd < 0) {
      // Lower value and the derivative changed sign: bracketed between t and x.
      const stpc = cubicMinimizer(t, x).stp;
      const stpq = secant(t, x);
      next = Math.abs(stpc - t.stp) > Math.abs(stpq - t.stp) ? stpc : stpq;
      this.bracketed = true;
    } else if (Math.abs(t.g) < Math.abs(x.g)) {
      // Lower value, same sign, smaller slope: the cubic is only trusted if its minimiser lies beyond t.
      const c = cubicMinimizer(t, x);
      const stpc = c.r < 0 && c.gamma !== 0 ? c.stp : t.stp > x.stp ? hi : lo;
      const stpq = secant(t, x);
      if (this.bracketed) {
        next = Math.abs(stpc - t.stp) < Math.abs(stpq - t.stp) ? stpc : stpq;
        // Stay well inside the bracket so it keeps shrinking.
        next = t.stp > x.stp ? Math.min(t.stp + 0.66 * (y.stp - t.stp), next) : Math.max(t.stp + 0.66 * (y.stp - t.stp), next);
      } else {
        next = Math.abs(stpc - t.stp) > Math.abs(stpq - t.stp) ? stpc : stpq;
        next = Math.min(Math.max(next, lo), hi);
      }
    } else {
      // Lower value, same sign, slope not decreasing: extrapolate as far as allowed.
      next = this.bracketed ? cubicMinimizer(t, y).stp : t.stp > x.stp ? hi : lo;
    }

    if (t.f > x.f) {
      Object.assign(y, t);
    } else {
      if (sgnd < 0) Object.assign(y, x);
      Object.assign(x, t);
    }
    return next;
  }
}

/**
 * Minimiser of the cubic matching value and slope at u and v, as u + r (v - u). gamma = 0 means the
 * cubic does not tend to infinity in the direction of the step (its discriminant was clamped).
 */
function cubicMinimizer(u: Point, v: Point): { stp: number; r: number; gamma: number } {
  const theta = (3 * (u.f - v.f)) / (v.stp - u.stp) + u.g + v.g;
  // Scaled to avoid overflow in theta^2.
  const s = Math.max(Math.abs(theta), Math.abs(u.g), Math.abs(v.g));
  let gamma = s * Math.sqrt(Math.max(0, (theta / s) ** 2 - (u.g / s) * (v.g / s)));
  if (v.stp < u.stp) gamma = -gamma;
  const p = gamma - u.g + theta;
  const q = gamma - u.g + gamma + v.g;
  const r = p / q;
  return { stp: u.stp + r * (v.stp - u.stp), r, gamma };
}

/** Zero of the linear interpolant of the slopes at u and v. */
function secant(u: Point, v: Point): number {
  return u.stp + (u.g / (u.g - v.g)) * (v.stp - u.stp);
}
