import os from "node:os";
import type { StylizeOptions, StylizeResult } from "../pipeline/types.js";

const describeInput = (input: string | Buffer) => (typeof input === "string" ? input : `<${input.length} bytes>`);

/** The --report JSON: what ran, on what, with which weights, and the loss of every evaluation. */
export function runReport(options: StylizeOptions, result: StylizeResult) {
  return {
    inputs: { content: describeInput(options.content), styles: options.styles.map(describeInput) },
    settings: result.settings,
    weights: result.weights,
    machine: {
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.cpus().length,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.arch()}`,
      node: process.version,
    },
    output: { width: result.width, height: result.height, format: result.format },
    finalLoss: result.finalLoss,
    seconds: result.evaluations.reduce((s, e) => s + e.seconds, 0),
    evaluations: result.evaluations,
  };
}
