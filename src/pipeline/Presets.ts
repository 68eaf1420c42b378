import type { LayerWeight, ObjectiveOptions } from "../objective/ObjectiveSpec.js";
import type { ColorMode, InitMode, OptimizerName } from "./types.js";

export type PresetName = "seed" | "gatys" | "default";

/** Everything a preset fixes; options given by the caller override single fields. */
export interface Preset extends Omit<ObjectiveOptions, "styleRegions"> {
  readonly size: number;
  readonly square: boolean;
  readonly init: InitMode;
  readonly optimizer: OptimizerName;
  readonly lr: number;
  readonly iterations: number;
  readonly evalsPerIteration: number;
  readonly scales: "auto" | number;
  /** Each coarser scale runs this many times the evaluations of the next finer one (1 = the same). */
  readonly coarseFactor: number;
  readonly styleScale: number;
  readonly preserveColors: ColorMode;
}

const even = (...layers: string[]): LayerWeight[] => layers.map((layer) => ({ layer, weight: 1 }));

/** METHOD.md exactly: Keras VGG16, 500x500 squashed, noise start, 10 L-BFGS restarts of 20 evaluations. */
const seed: Preset = {
  model: "vgg16",
  size: 500,
  square: true,
  init: "noise",
  contentLayers: even("block2_conv2"),
  styleLayers: even("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"),
  contentWeight: 0.02,
  styleWeight: 4.5,
  tvWeight: 0.995,
  tvPower: 1.25,
  normalization: "seed",
  pooling: "max",
  optimizer: "lbfgs",
  lr: 1,
  iterations: 10,
  evalsPerIteration: 20,
  scales: 1,
  coarseFactor: 1,
  styleScale: 1,
  preserveColors: "none",
};

/** Gatys et al. 2015/2016: VGG19, content block4_conv2, style conv1 of every block, per-layer normalisation. */
const gatys: Preset = {
  model: "vgg19",
  size: 512,
  square: false,
  init: "content",
  contentLayers: even("block4_conv2"),
  styleLayers: even("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"),
  contentWeight: 1,
  styleWeight: 3e4,
  tvWeight: 1e-3,
  tvPower: 1.25,
  normalization: "gatys",
  pooling: "max",
  optimizer: "lbfgs",
  lr: 1,
  iterations: 10,
  evalsPerIteration: 30,
  scales: 1,
  coarseFactor: 1,
  styleScale: 1,
  preserveColors: "none",
};

/**
 * The no-tuning default: Gatys' objective run coarse-to-fine from ~128 px, 2 x 12 evaluations per
 * scale: 86-109 s at 512 px on two cores. Compared with one full-size scale in the same time it
 * paints broader, more painterly strokes; it does not reach a lower full-size loss (bench/pyramid.ts).
 */
const defaultPreset: Preset = {
  ...gatys,
  scales: "auto",
  iterations: 2,
  evalsPerIteration: 12,
};

export const PRESETS: Readonly<Record<PresetName, Preset>> = { seed, gatys, default: defaultPreset };
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** One line per preset, for the web page's list. */
export const PRESET_DESCRIPTIONS: Readonly<Record<PresetName, string>> = {
  default: "coarse to fine, quickest",
  gatys: "Gatys et al., full size throughout",
  seed: "VGG16, square output",
};
