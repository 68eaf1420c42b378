import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { score, type ImageScore } from "../pipeline/Score.js";
import type { StylizeOptions, StylizeResult } from "../pipeline/types.js";
import { backboneFor } from "../backbone/Backbone.js";
import { weightsCacheDir } from "../weights/WeightStore.js";

const describeInput = (input: string | Buffer) => (typeof input === "string" ? input : `<${input.length} bytes>`);

/** The --report JSON: what ran, on what, with which weights, and the loss of every evaluation. */
export function runReport(options: StylizeOptions, result: StylizeResult, quality: ReportScore) {
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
    ...quality,
    seconds: result.evaluations.reduce((s, e) => s + e.seconds, 0),
    evaluations: result.evaluations,
  };
}

export type ReportScore = { score: ImageScore; scoreNote?: undefined } | { score: null; scoreNote: string };

/**
 * The output's yardstick score (`pastiche score`), which needs VGG19 weights: the run's own when it
 * used VGG19, else the cached catalogue file. Nothing is downloaded for a report.
 */
export async function reportScore(options: StylizeOptions, result: StylizeResult): Promise<ReportScore> {
  const cached = path.join(weightsCacheDir(), backboneFor("vgg19").catalogue.fileName);
  const weights = result.settings.model === "vgg19" ? result.weights.path : existsSync(cached) ? cached : undefined;
  if (!weights) return { score: null, scoreNote: "the score needs VGG19 weights: run `pastiche score` with --weights, or `pastiche` once with --model vgg19" };
  const [s] = await score({
    content: options.content,
    styles: options.styles,
    images: [result.image],
    styleBlend: options.styleBlend,
    weights,
    threads: options.threads,
    maxInputPixels: options.maxInputPixels,
    maxMemory: options.maxMemory,
  });
  return { score: s };
}
