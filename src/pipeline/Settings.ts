import { PasticheError } from "../errors.js";
import { termLayers } from "../objective/LossTerms.js";
import type { LayerWeight } from "../objective/ObjectiveSpec.js";
import { deepestLayer } from "../objective/ObjectiveGraph.js";
import { MODEL_NAMES, poolsThrough, vggLayers, type ModelName } from "../model/VggArchitecture.js";
import { PRESETS, PRESET_NAMES, type Preset } from "./Presets.js";
import type { PresetName, StylizeOptions } from "./types.js";

/** A run's complete, validated settings: the preset with the caller's options applied. */
export interface Settings extends Preset {
  readonly preset: PresetName;
  readonly styleBlend: readonly number[];
  readonly seed: number;
  readonly threads: number | undefined;
  readonly previewEvery: number;
  readonly format: "png" | "jpg" | "webp";
  readonly maxInputPixels: number;
}

const bad = (message: string) => new PasticheError("BAD_OPTION", message);

function oneOf<T extends string>(what: string, value: T | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) throw bad(`unknown ${what} "${value}"; use one of: ${allowed.join(", ")}`);
  return value;
}

function integer(what: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw bad(`${what} must be a whole number from ${min} to ${max}, got ${value}`);
  return v;
}

function real(what: string, value: number | undefined, fallback: number, min: number, max = Infinity): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min || v > max) {
    throw bad(`${what} must be a number ${max === Infinity ? `>= ${min}` : `from ${min} to ${max}`}, got ${value}`);
  }
  return v;
}

function layerWeights(what: string, layers: readonly LayerWeight[], model: ModelName): LayerWeight[] {
  if (layers.length === 0) throw bad(`${what} must name at least one layer`);
  const known = new Set(vggLayers(model).map((l) => l.name));
  for (const { layer, weight } of layers) {
    if (!known.has(layer)) {
      const convs = vggLayers(model).filter((l) => l.kind === "conv").map((l) => l.name);
      throw bad(`unknown layer "${layer}" in ${what} for ${model}; known layers: ${convs.join(", ")}`);
    }
    if (!Number.isFinite(weight) || weight < 0) throw bad(`layer weight for ${layer} in ${what} must be a number >= 0, got ${weight}`);
  }
  if (layers.reduce((s, l) => s + l.weight, 0) <= 0) throw bad(`the layer weights in ${what} sum to 0; give at least one a positive weight`);
  return [...layers];
}

export const DEFAULT_MAX_INPUT_PIXELS = 100_000_000;

/** Applies the caller's options over the chosen preset and rejects anything that cannot run. */
export function resolveSettings(options: StylizeOptions): Settings {
  const preset = oneOf("preset", options.preset, PRESET_NAMES, "default");
  const p = PRESETS[preset];
  const model = oneOf("model", options.model, MODEL_NAMES, p.model);
  const styleCount = options.styles.length;
  if (styleCount === 0) throw bad("no style image given; pass at least one");

  const blend = options.styleBlend ?? Array.from({ length: styleCount }, () => 1);
  if (blend.length !== styleCount) throw bad(`--style-blend has ${blend.length} weights for ${styleCount} style images; give one per style image`);
  if (blend.some((w) => !Number.isFinite(w) || w < 0) || blend.reduce((a, b) => a + b, 0) <= 0) {
    throw bad(`--style-blend weights must be numbers >= 0 with a positive sum, got ${blend.join(",")}`);
  }
  const blendSum = blend.reduce((a, b) => a + b, 0);

  const contentLayers = layerWeights("content layers", options.contentLayers ?? p.contentLayers, model);
  const styleLayers = layerWeights("style layers", options.styleLayers ?? p.styleLayers, model);
  deepestLayer(model, [...contentLayers, ...styleLayers]);

  const contentWeight = real("content weight", options.contentWeight, p.contentWeight, 0);
  const styleWeight = real("style weight", options.styleWeight, p.styleWeight, 0);
  if (contentWeight + styleWeight <= 0) throw bad("content weight and style weight are both 0; nothing would be optimised");

  const optimizer = oneOf("optimizer", options.optimizer, ["lbfgs", "adam"], p.optimizer);
  const evalsPerIteration = integer("evaluations per iteration", options.evalsPerIteration, p.evalsPerIteration, 1, 100_000);
  // Adam's last evaluation in a call only measures; with one evaluation per call it never moves.
  if (optimizer === "adam" && evalsPerIteration < 2) throw bad("--optimizer adam needs --evals-per-iteration of at least 2");
  const scales = options.scales ?? p.scales;
  if (scales !== "auto") integer("scales", scales, 1, 1, 8);

  return {
    preset,
    model,
    size: integer("size", options.size, p.size, 16, 8192),
    square: options.square ?? p.square,
    init: oneOf("init", options.init, ["noise", "content", "recolored", "style"], p.init),
    contentLayers,
    styleLayers,
    contentWeight,
    styleWeight,
    tvWeight: real("TV weight", options.tvWeight, p.tvWeight, 0),
    // Below 1 the TV gradient is infinite where neighbouring pixels are equal.
    tvPower: real("TV power", options.tvPower, p.tvPower, 1, 4),
    normalization: oneOf("normalization", options.normalization, ["seed", "gatys", "balanced"], p.normalization),
    pooling: oneOf("pooling", options.pooling, ["max", "avg"], p.pooling),
    optimizer,
    lr: real("learning rate", options.lr, p.lr, Number.MIN_VALUE),
    iterations: integer("iterations", options.iterations, p.iterations, 1, 100_000),
    evalsPerIteration,
    scales,
    coarseFactor: real("coarse factor", options.coarseFactor, p.coarseFactor, 0.25, 4),
    styleScale: real("style scale", options.styleScale, p.styleScale, 0.25, 4),
    preserveColors: oneOf("preserve-colors mode", options.preserveColors, ["none", "luminance", "histogram"], p.preserveColors),
    styleBlend: blend.map((w) => w / blendSum),
    seed: integer("seed", options.seed, 0, 0, 2 ** 32 - 1),
    threads: options.threads === undefined ? undefined : integer("threads", options.threads, 1, 1, 256),
    previewEvery: integer("preview interval", options.previewEvery, 0, 0, 1_000_000),
    format: oneOf("format", options.format, ["png", "jpg", "webp"], "png"),
    maxInputPixels: integer("max input pixels", options.maxInputPixels, DEFAULT_MAX_INPUT_PIXELS, 1, Number.MAX_SAFE_INTEGER),
  };
}

/** Smallest image side that still has activations at the deepest layer used: 2^(pools before it). */
export function minimumSide(settings: Settings): number {
  return 2 ** poolsThrough(settings.model, deepestLayer(settings.model, termLayers(settings)));
}
