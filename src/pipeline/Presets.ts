import type { LayerWeight, ObjectiveOptions } from "../objective/ObjectiveSpec.js";
import type { ColorMode, InitMode, OptimizerName } from "./types.js";

export type PresetName = "seed" | "gatys" | "default" | "best";

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
  normalization: "image",
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
 * The no-tuning default, chosen by bench/quality.ts (the yardstick of `pastiche score`, 20
 * photo/painting pairs at 512 px): the balanced normalisation, so that colour and fine texture
 * (block1) weigh as much as the deep layers; a start from the photo in the painting's colours; one
 * L-BFGS run per scale from ~128 px up, each coarser scale running 1.4 times the evaluations of the
 * next finer one (it costs half as much), so most of the painting happens where it is cheap.
 */
const defaultPreset: Preset = {
  ...gatys,
  init: "recolored",
  normalization: "balanced",
  contentWeight: 1,
  styleWeight: 10,
  tvWeight: 1e-5,
  scales: "auto",
  iterations: 1,
  evalsPerIteration: 16,
  coarseFactor: 1.4,
};

/** The default's objective with four times the evaluations at every scale: a few minutes at 512 px. */
const best: Preset = {
  ...defaultPreset,
  evalsPerIteration: 64,
};

export const PRESETS: Readonly<Record<PresetName, Preset>> = { seed, gatys, default: defaultPreset, best };
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** One line per preset, for the web page's list. */
export const PRESET_DESCRIPTIONS: Readonly<Record<PresetName, string>> = {
  default: "painted, quick",
  best: "the default, converged further: minutes",
  gatys: "Gatys et al., full size throughout",
  seed: "VGG16, square output",
};
