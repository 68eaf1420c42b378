import type { OptionValue, OptionValues } from "./OptionSchema.js";

export type { PresetName } from "./Presets.js";
export type InitMode = OptionValue<"init">;
export type OptimizerName = OptionValue<"optimizer">;
export type ColorMode = OptionValue<"preserveColors">;

/** An image given as a file path or as encoded bytes (any format sharp reads). */
export type ImageInput = string | Buffer;

/**
 * What a caller may set: the images, and any option of options/OptionSchema (each documented
 * there); everything not set comes from the preset or the option's default.
 */
export interface StylizeOptions extends OptionValues {
  content: ImageInput;
  styles: ImageInput[];
  signal?: AbortSignal;
}

export interface Progress {
  /** Scale index (0-based) and count, for coarse-to-fine runs. */
  scale: number;
  scales: number;
  iteration: number;
  iterations: number;
  evaluation: number;
  evaluations: number;
  loss: number;
  /** Each loss term's weighted value by name (content, style, tv, ...); they sum to `loss`. */
  terms: Record<string, number>;
  elapsedS: number;
  etaS: number;
  /** Within an evaluation of an image in windows (too large for memory in one): the window runs done of its total (two per window). */
  windows?: { done: number; total: number };
}

/** Weights being fetched for a run (first run without a local weights file); bytes. */
export interface DownloadProgress {
  received: number;
  total: number;
}

export interface Preview {
  png: Buffer;
  width: number;
  height: number;
  progress: Progress;
}

export interface StylizeResult {
  /** The encoded image in `format`. */
  image: Buffer;
  format: "png" | "jpg" | "webp";
  /** Raw RGB pixels, 8 bits per channel, row-major. */
  pixels: Uint8Array;
  width: number;
  height: number;
  /** The objective at the returned image (before rounding to 8 bits), at the full size. */
  finalLoss: number;
  /** Every evaluation in order; `scale` indexes the coarse-to-fine scale it ran at. */
  evaluations: { scale: number; loss: number; terms: Record<string, number>; seconds: number }[];
  settings: Record<string, unknown>;
  weights: { path: string; md5: string; catalogued: boolean };
}
