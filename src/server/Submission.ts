import { checkMemoryBudget } from "../pipeline/MemoryBudget.js";
import { PRESETS } from "../pipeline/Presets.js";
import type { StylizeOptions } from "../pipeline/types.js";
import { formatBytes } from "../util/Bytes.js";
import type { JobForm } from "./JobForm.js";
import type { JobSubmission } from "./JobQueue.js";
import type { ServerConfig } from "./ServerConfig.js";

/**
 * Turns a checked form into library options plus the job's memory estimate; refuses up front a
 * job that could never fit the memory budget, naming the largest size that would.
 */
export function toSubmission(form: JobForm, config: ServerConfig, owner: string): JobSubmission {
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
    // The run checks the same estimate against the same budget.
    maxMemory: config.memoryBudgetBytes,
    previewEvery: config.previewEvery,
    format: "png",
  };

  const { bytes: memoryBytes } = checkMemoryBudget(
    { preset: form.preset, size: form.size, inputs: [form.content, ...form.styles] },
    config.memoryBudgetBytes,
    {
      budget: () => `this server's memory budget of ${formatBytes(config.memoryBudgetBytes)}`,
      smaller: (size) => () => `choose a size of at most ${size} px`,
      none: () => "no size fits; use smaller images, or ask whoever runs the server to raise the budget",
    },
  );

  return {
    owner,
    options,
    memoryBytes,
    summary: { preset: form.preset, size: form.size, strength: form.strength, styles: form.styles.length },
  };
}
