import { PasticheError } from "../errors.js";
import { MIN_SIZE } from "../pipeline/OptionSchema.js";
import { PRESETS } from "../pipeline/Presets.js";
import { estimateMemoryBytes } from "../pipeline/Stylize.js";
import type { StylizeOptions } from "../pipeline/types.js";
import { formatBytes } from "./ApiError.js";
import type { JobForm } from "./JobForm.js";
import type { JobSubmission } from "./JobQueue.js";
import type { ServerConfig } from "./ServerConfig.js";

/**
 * Turns a checked form into library options plus the job's memory estimate; refuses up front a
 * job that could never fit the memory budget, naming the largest size that would.
 */
export function toSubmission(form: JobForm, config: ServerConfig): JobSubmission {
  const preset = PRESETS[form.preset];
  const options: Omit<StylizeOptions, "signal"> = {
    content: form.content.bytes,
    styles: form.styles.map((s) => s.bytes),
    preset: form.preset,
    size: form.size,
    styleWeight: preset.styleWeight * form.strength,
    ...(form.iterations !== undefined && { iterations: form.iterations }),
    ...(form.evalsPerIteration !== undefined && { evalsPerIteration: form.evalsPerIteration }),
    ...(config.model !== undefined && { model: config.model }),
    ...(config.weights !== undefined && { weights: config.weights }),
    ...(config.threads !== undefined && { threads: config.threads }),
    maxInputPixels: config.maxPixels,
    previewEvery: config.previewEvery,
    format: "png",
  };

  const aspect = form.content.width / form.content.height;
  const estimate = (size: number) =>
    estimateMemoryBytes({ preset: form.preset, size }, aspect);
  const memoryBytes = estimate(form.size);
  if (memoryBytes > config.memoryBudgetBytes) {
    const fits = largestFittingSize(estimate, form.size, config.memoryBudgetBytes);
    throw new PasticheError(
      "TOO_MUCH_MEMORY",
      `A ${form.size} px run with the "${form.preset}" preset needs about ${formatBytes(memoryBytes)}, more than ` +
        `this server's memory budget of ${formatBytes(config.memoryBudgetBytes)}: ` +
        (fits ? `choose a size of at most ${fits} px` : "no size fits; ask whoever runs the server to raise the budget"),
    );
  }

  return {
    options,
    memoryBytes,
    summary: { preset: form.preset, size: form.size, strength: form.strength, styles: form.styles.length },
  };
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
