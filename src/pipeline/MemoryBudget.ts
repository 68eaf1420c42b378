import { totalmem } from "node:os";
import { onnxRuntimeCpu } from "../engine/OnnxRuntimeCpu.js";
import { PasticheError, type Phrase } from "../errors.js";
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
 * A decoded input stays in memory for the whole run as 8-bit RGB (3 B/px); sharp's decoding adds a
 * little on top: five 36 MP inputs measured +560 MB of RSS, 3.1 B/px.
 */
const DECODED_BYTES_PER_PIXEL = 4;

/** Run memory of a machine by default: a quarter is left for the OS, other programs and Node itself. */
export function defaultMemoryBudget(): number {
  return Math.floor(totalmem() * 0.75);
}

/** Peak resident memory of a run, in bytes, as the engine estimates it from the output's pixel count. */
export function estimateMemoryBytes(options: Pick<StylizeOptions, "preset" | "size" | "square">, contentAspect = 1): number {
  const preset = PRESETS[options.preset ?? "default"] ?? PRESETS.default;
  const long = options.size ?? preset.size;
  const square = options.square ?? preset.square;
  const pixels = square ? long * long : (long * long) / Math.max(contentAspect, 1 / contentAspect);
  return onnxRuntimeCpu.estimateMemoryBytes(pixels);
}

/** Peak memory of a run: the engine's at the output size plus the decoded input images. */
export function estimateRunBytes(shape: RunShape): number {
  const [content] = shape.inputs;
  const aspect = content ? content.width / content.height : 1;
  const decoded = shape.inputs.reduce((sum, i) => sum + i.width * i.height, 0) * DECODED_BYTES_PER_PIXEL;
  return estimateMemoryBytes({ preset: shape.preset, size: shape.size, square: shape.square }, aspect) + decoded;
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
 * Refuses, before any work, a run whose estimate exceeds `budgetBytes`, naming the largest size
 * that fits; returns the estimate. The CLI, the library and the server all decide with it.
 */
export function checkMemoryBudget(shape: RunShape, budgetBytes: number, wording: BudgetWording): number {
  const needed = estimateRunBytes(shape);
  if (needed <= budgetBytes) return needed;
  const fits = largestFittingSize((size) => estimateRunBytes({ ...shape, size }), shape.size, budgetBytes);
  const preset = shape.preset ? ` with the "${shape.preset}" preset` : "";
  throw new PasticheError(
    "TOO_MUCH_MEMORY",
    (name) =>
      `A ${shape.size} px run${preset} needs about ${formatBytes(needed)} of memory, more than ${wording.budget(name)}: ` +
      (fits === undefined ? wording.none(name) : wording.smaller(fits)(name)),
  );
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
