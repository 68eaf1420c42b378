import type { ModelName } from "../model/VggArchitecture.js";
import type { LayerWeight, Normalization, Pooling } from "../objective/ObjectiveSpec.js";

export type PresetName = "seed" | "gatys" | "default";
/** `recolored`: the photo with the (dominant) painting's colour mean and covariance. */
export type InitMode = "noise" | "content" | "recolored" | "style";
export type OptimizerName = "lbfgs" | "adam";
export type ColorMode = "none" | "luminance" | "histogram";

/** An image given as a file path or as encoded bytes (any format sharp reads). */
export type ImageInput = string | Buffer;

/** What a caller may set; everything not set comes from the preset. */
export interface StylizeOptions {
  content: ImageInput;
  styles: ImageInput[];
  preset?: PresetName;
  /** Relative weights of the style images' Gram targets (normalised to sum 1). */
  styleBlend?: number[];
  /** Style image size relative to the output size (0.25..4). */
  styleScale?: number;
  preserveColors?: ColorMode;
  /** A mask image: each distinct colour selects a style (or none). */
  mask?: ImageInput;
  /** Coarse-to-fine: "auto" or the number of scales (1 = off). */
  scales?: "auto" | number;
  /** Each coarser scale runs this many times the evaluations of the next finer one (0.25..4; 1 = the same). */
  coarseFactor?: number;
  model?: ModelName;
  /** Long edge in pixels (or both sides with `square`). */
  size?: number;
  square?: boolean;
  iterations?: number;
  evalsPerIteration?: number;
  optimizer?: OptimizerName;
  lr?: number;
  contentWeight?: number;
  styleWeight?: number;
  tvWeight?: number;
  tvPower?: number;
  contentLayers?: LayerWeight[];
  styleLayers?: LayerWeight[];
  normalization?: Normalization;
  pooling?: Pooling;
  init?: InitMode;
  initImage?: ImageInput;
  seed?: number;
  threads?: number;
  /** A local weights file; otherwise the catalogue file is downloaded and cached. */
  weights?: string;
  /** Refuse inputs with more pixels than this before decoding them. */
  maxInputPixels?: number;
  /** Encode a preview PNG every N evaluations (0 = never). */
  previewEvery?: number;
  /** Output encoding of the final image. */
  format?: "png" | "jpg" | "webp";
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
