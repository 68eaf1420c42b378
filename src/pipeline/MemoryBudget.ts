import { totalmem } from "node:os";
import { onnxRuntimeCpu } from "../engine/OnnxRuntimeCpu.js";
import { PasticheError, type Phrase } from "../errors.js";
import type { Precision } from "../optim/Optimizer.js";
import { formatBytes } from "../util/Bytes.js";
import { MIN_SIZE } from "./OptionSchema.js";
import { PRESETS } from "./Presets.js";
import type { PresetName, StylizeOptions } from "./types.js";

export interface ImageSize {
  width: number;
  height: number;
}

/** What sets a run's size, the content image first among its inputs. */
export interface RunShape {
  preset?: PresetName;
  size: number;
  square?: boolean;
  inputs: readonly ImageSize[];
}

/**
 * How a run fits its memory: at its full size in one session, or in windows of at most
 * `windowPixels` (engine/TiledObjectiveSession), keeping `history` L-BFGS correction pairs and the
 * optimiser's vectors in `precision`.
 */
export interface MemoryPlan {
  readonly bytes: number;
  /** Undefined: every scale in one session. */
  readonly windowPixels?: number;
  readonly history: number;
  readonly precision: Precision;
}

/** L-BFGS's correction pairs (scipy's m), kept while memory allows. */
export const LBFGS_HISTORY = 10;
/** Fewer pairs than this and a run is refused rather than tiled further. */
const MIN_HISTORY = 2;
/**
 * Images an optimiser holds besides L-BFGS's 2 x history: a spare pair, the current point and
 * gradient, the search direction, a trial point and its gradient, and about one that the garbage
 * collector has not freed yet (Adam: its moments instead of the direction and trial).
 */
const OPTIMISER_VECTORS = 8;
const VALUE_BYTES: Record<Precision, number> = { float64: 8, float32: 4 };
/** Targets cut per window and the whole-image targets (content features, masks) per output pixel. */
const TARGET_BYTES_PER_PIXEL = 48;
/** A window's first pass (forward only) has a session of its own, about this share of the objective's. */
const FIRST_PASS_SHARE = 0.5;
/**
 * Windows below this leave little inside their margins (96 px on each side for VGG's block5), so a
 * run would rather keep fewer L-BFGS pairs than shrink its windows below it.
 */
const GOOD_WINDOW_PIXELS = 768 * 768;
const MIN_WINDOW_PIXELS = 320 * 320;

function optimiserBytes(pixels: number, history: number, precision: Precision): number {
  return (2 * history + OPTIMISER_VECTORS) * 3 * VALUE_BYTES[precision] * pixels;
}

/**
 * The engine's estimate of a whole run at `pixels` (fitted with LBFGS_HISTORY float64 pairs) split
 * into a fixed part and its sessions' bytes per pixel, so that windows and the optimiser scale apart.
 */
function engineParts(): { base: number; sessionPerPixel: number } {
  const base = onnxRuntimeCpu.estimateMemoryBytes(0);
  const perPixel = (onnxRuntimeCpu.estimateMemoryBytes(1e6) - base) / 1e6;
  return { base, sessionPerPixel: perPixel - optimiserBytes(1, LBFGS_HISTORY, "float64") };
}

/** Peak memory of a run over `pixels` in one session. */
function wholeBytes(pixels: number, precision: Precision): number {
  const { base, sessionPerPixel } = engineParts();
  return base + sessionPerPixel * pixels + optimiserBytes(pixels, LBFGS_HISTORY, precision);
}

/** Peak memory of a tiled run over `pixels` in windows of `windowPixels`. */
function tiledBytes(pixels: number, windowPixels: number, history: number): number {
  const { base, sessionPerPixel } = engineParts();
  return base + (1 + FIRST_PASS_SHARE) * sessionPerPixel * windowPixels + optimiserBytes(pixels, history, "float32") + TARGET_BYTES_PER_PIXEL * pixels;
}

/**
 * The plan of a run of `pixels` output pixels within `budget` bytes (inputs' memory excluded), the
 * first that fits of: one session with scipy's float64 vectors; one session with float32 vectors;
 * windows, float32, with as many L-BFGS pairs as leave the windows good (768² px), else with 2.
 * Float32 vectors come first because they cost the pictures nothing measurable (bench/quality.ts
 * --float32), while windows cost time and fewer pairs weaken L-BFGS's model of the curvature.
 * Undefined when nothing fits.
 */
export function planMemory(pixels: number, budget: number): MemoryPlan | undefined {
  for (const precision of ["float64", "float32"] as const) {
    const bytes = wholeBytes(pixels, precision);
    if (bytes <= budget) return { bytes, history: LBFGS_HISTORY, precision };
  }
  const { sessionPerPixel } = engineParts();
  const windowsWith = (history: number): MemoryPlan | undefined => {
    const windowPixels = Math.min(pixels, Math.floor((budget - tiledBytes(pixels, 0, history)) / ((1 + FIRST_PASS_SHARE) * sessionPerPixel)));
    if (windowPixels < MIN_WINDOW_PIXELS) return undefined;
    return { bytes: tiledBytes(pixels, windowPixels, history), windowPixels, history, precision: "float32" };
  };
  for (let history = LBFGS_HISTORY; history > MIN_HISTORY; history--) {
    const plan = windowsWith(history);
    if (plan && plan.windowPixels! >= Math.min(GOOD_WINDOW_PIXELS, pixels)) return plan;
  }
  // Below good windows, every pair given up buys larger windows, whose margins cost less time.
  return windowsWith(MIN_HISTORY);
}

/**
 * A decoded input stays in memory for the whole run as 8-bit RGB (3 B/px); sharp's decoding adds a
 * little on top: five 36 MP inputs measured +560 MB of RSS, 3.1 B/px.
 */
const DECODED_BYTES_PER_PIXEL = 4;

/** Run memory of a machine by default: a quarter is left for the OS, other programs and Node itself. */
export function defaultMemoryBudget(): number {
  return Math.floor(totalmem() * 0.75);
}

/** A run's output pixel count. */
function outputPixels(options: Pick<StylizeOptions, "preset" | "size" | "square">, contentAspect = 1): number {
  const preset = PRESETS[options.preset ?? "default"] ?? PRESETS.default;
  const long = options.size ?? preset.size;
  const square = options.square ?? preset.square;
  return square ? long * long : (long * long) / Math.max(contentAspect, 1 / contentAspect);
}

/** Peak resident memory of a run in one session, in bytes, as the engine estimates it from the output's pixel count. */
export function estimateMemoryBytes(options: Pick<StylizeOptions, "preset" | "size" | "square">, contentAspect = 1): number {
  return onnxRuntimeCpu.estimateMemoryBytes(outputPixels(options, contentAspect));
}

/** The decoded input images' memory and the output's pixel count. */
function shapeParts(shape: RunShape): { decoded: number; pixels: number } {
  const [content] = shape.inputs;
  const aspect = content ? content.width / content.height : 1;
  const decoded = shape.inputs.reduce((sum, i) => sum + i.width * i.height, 0) * DECODED_BYTES_PER_PIXEL;
  return { decoded, pixels: outputPixels({ preset: shape.preset, size: shape.size, square: shape.square }, aspect) };
}

/** Peak memory of a run in one session: the engine's at the output size plus the decoded input images. */
export function estimateRunBytes(shape: RunShape): number {
  const { decoded, pixels } = shapeParts(shape);
  return onnxRuntimeCpu.estimateMemoryBytes(pixels) + decoded;
}

/** The memory plan of a run within `budget`, the decoded inputs included; undefined when nothing fits. */
export function planRun(shape: RunShape, budget: number): MemoryPlan | undefined {
  const { decoded, pixels } = shapeParts(shape);
  const plan = planMemory(pixels, budget - decoded);
  return plan && { ...plan, bytes: plan.bytes + decoded };
}

/** How a refusal speaks to its audience: the CLI names options by flag, the server its form. */
export interface BudgetWording {
  /** e.g. "the 17.6 GiB this run may use (--max-memory)". */
  budget: Phrase;
  /** The fix when a smaller size fits, e.g. "use --size 1234 or less". */
  smaller: (size: number) => Phrase;
  /** The fix when no size fits. */
  none: Phrase;
}

/**
 * Refuses, before any work, a run that does not fit `budgetBytes` even in windows, naming the
 * largest size that fits; returns its plan. The CLI, the library and the server all decide with it.
 */
export function checkMemoryBudget(shape: RunShape, budgetBytes: number, wording: BudgetWording): MemoryPlan {
  const plan = planRun(shape, budgetBytes);
  if (plan) return plan;
  const needed = smallestNeed(shape);
  const fits = largestFittingSize((size) => (planRun({ ...shape, size }, budgetBytes) ? 0 : Infinity), shape.size, budgetBytes);
  const preset = shape.preset ? ` with the "${shape.preset}" preset` : "";
  throw new PasticheError(
    "TOO_MUCH_MEMORY",
    (name) =>
      `A ${shape.size} px run${preset} needs about ${formatBytes(needed)} of memory, more than ${wording.budget(name)}: ` +
      (fits === undefined ? wording.none(name) : wording.smaller(fits)(name)),
  );
}

/** The least memory a run could do with: the smallest windows and L-BFGS history, float32 vectors. */
function smallestNeed(shape: RunShape): number {
  const { decoded, pixels } = shapeParts(shape);
  return Math.min(wholeBytes(pixels, "float32"), tiledBytes(pixels, Math.min(pixels, MIN_WINDOW_PIXELS), MIN_HISTORY)) + decoded;
}

/** Binary search over sizes; the estimate grows with the size. Undefined when even the smallest does not fit. */
function largestFittingSize(estimate: (size: number) => number, tooBig: number, budget: number): number | undefined {
  let lo = MIN_SIZE;
  if (estimate(lo) > budget) return undefined;
  let hi = tooBig;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (estimate(mid) <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}
