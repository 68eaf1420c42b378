import type { OptionName } from "../errors.js";
import { MODEL_NAMES, POOLINGS } from "../backbone/Backbone.js";
import { NORMALIZATIONS, type LayerWeight } from "../objective/ObjectiveSpec.js";
import { PRESET_NAMES } from "./Presets.js";
import * as check from "../options/Check.js";

/**
 * Every option a run takes, defined once: its key (in StylizeOptions and Settings), its words in
 * messages, its kind (how the CLI parses it, how it is checked, how --help shows a value), its help
 * and where its default comes from. Validation (pipeline/Settings), the CLI's flags (cli/main), the
 * server's form fields and the public StylizeOptions type are all made from this list.
 */
export interface Kind<T> {
  /** The CLI's argument placeholder ("<px>"); absent for a switch. */
  readonly arg?: string;
  /** The values of an enumeration (the CLI offers them as choices). */
  readonly choices?: readonly string[];
  /** Command-line text to a value; throws an Error whose message says what was expected. Range checks are `check`'s. */
  parse?(text: string): T;
  check(option: OptionName, value: unknown): T;
  show(value: T): string;
}

export interface OptionSpec<T> extends OptionName {
  readonly kind: Kind<T>;
  readonly help: string;
  /** "preset": every preset sets it (Preset has a field of the same key); otherwise a fixed default, if any. */
  readonly default?: T | "preset";
  /** Library only: the CLI has no flag for it (it derives it, e.g. the format from the output's name). */
  readonly cliFlag?: false;
}

const show = String;

const choice = <T extends string>(values: readonly T[], arg = "<name>"): Kind<T> => ({
  arg,
  choices: values,
  check: (o, v) => check.oneOf(o, v, values),
  show,
});

/** Command-line text to a finite number. */
export const parseNumberText = (text: string): number => {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n)) throw new Error(`needs a number, got "${text}"`);
  return n;
};

const whole = (min: number, max: number, arg = "<n>"): Kind<number> => ({ arg, parse: parseNumberText, check: (o, v) => check.wholeNumber(o, v, min, max), show });
const real = (min: number, max = Infinity, arg = "<w>"): Kind<number> => ({ arg, parse: parseNumberText, check: (o, v) => check.number(o, v, min, max), show });
const positive = (arg: string): Kind<number> => ({ arg, parse: parseNumberText, check: check.positiveNumber, show });
const flag: Kind<boolean> = { check: check.boolean, show };
const file = (arg = "<file>"): Kind<string> => ({ arg, parse: (t) => t, check: check.text, show });
const image: Kind<string | Buffer> = { arg: "<file>", parse: (t) => t, check: check.fileOrBytes, show: (v) => (typeof v === "string" ? v : `<${v.length} bytes>`) };

/** "block1_conv1:0.5,block2_conv1" <-> layers with weights (1 when not given). Layer names are checked against the model in Settings. */
const layers: Kind<LayerWeight[]> = {
  arg: "<list>",
  parse: (text) =>
    text.split(",").map((item) => {
      const [layer, weight, extra] = item.trim().split(":");
      const w = weight === undefined ? 1 : Number(weight);
      if (!layer || extra !== undefined || weight === "" || !Number.isFinite(w)) {
        throw new Error(`"${item}" is not layer or layer:weight (e.g. block1_conv1:0.5)`);
      }
      return { layer, weight: w };
    }),
  check: (o, v) => {
    const list = Array.isArray(v) ? (v as LayerWeight[]) : [];
    if (list.length === 0) throw check.badOption((name) => `${name(o)} must name at least one layer`);
    for (const { layer, weight } of list) {
      check.text(o, layer);
      if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) {
        throw check.badOption((name) => `layer weight for ${layer} in ${name(o)} must be a number >= 0, got ${weight}`);
      }
    }
    if (list.reduce((s, l) => s + l.weight, 0) <= 0) throw check.badOption((name) => `the layer weights in ${name(o)} sum to 0; give at least one a positive weight`);
    return [...list];
  },
  show: (v) => v.map((l) => (l.weight === 1 ? l.layer : `${l.layer}:${l.weight}`)).join(","),
};

const weightList: Kind<number[]> = {
  arg: "<weights>",
  parse: (text) =>
    text.split(",").map((item) => {
      const w = Number(item);
      if (item.trim() === "" || !Number.isFinite(w)) throw new Error(`"${item}" is not a number (e.g. 0.7,0.3)`);
      return w;
    }),
  check: check.weights,
  show: (v) => v.join(","),
};

const scales: Kind<"auto" | number> = {
  arg: "<n|auto>",
  parse: (text) => {
    if (text === "auto") return "auto";
    const n = Number(text);
    if (!Number.isInteger(n)) throw new Error(`needs "auto" or a whole number, got "${text}"`);
    return n;
  },
  check: (o, v) => (v === "auto" ? "auto" : check.wholeNumber(o, v, 1, 8)),
  show,
};

const UNITS: Record<string, number> = { "": 2 ** 20, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** An amount of memory in bytes; on the command line "8G", "6000M", "1.5GiB" (a bare number is in MiB). */
const memory: Kind<number> = {
  arg: "<size>",
  parse: (text) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
    const bytes = m ? Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]) : NaN;
    if (!(bytes >= 1)) throw new Error(`needs a size such as 8G or 6000M, got "${text}"`);
    return bytes;
  },
  check: (o, v) => check.wholeNumber(o, v, 1),
  show: (v) => `${Math.round(v / 2 ** 20)}M`,
};

/** Output sides below this cannot reach even the first pooling; the network's own minimum is checked per run. */
export const MIN_SIZE = 16;
const MAX_SIZE = 8192;
/** Inputs with more pixels are refused before decoding. */
export const DEFAULT_MAX_INPUT_PIXELS = 100_000_000;

function option<T>(key: string, label: string, kind: Kind<T>, help: string, defaults: Pick<OptionSpec<T>, "default" | "cliFlag"> = {}): OptionSpec<T> {
  return { key, label, kind, help, ...defaults };
}
const fromPreset = { default: "preset" } as const;

/** In --help order. */
export const OPTIONS = {
  preset: option("preset", "preset", choice(PRESET_NAMES), "settings to start from; options below override single fields", { default: "default" }),
  model: option("model", "model", choice(MODEL_NAMES), "network", fromPreset),
  size: option("size", "size", whole(MIN_SIZE, MAX_SIZE, "<px>"), "long edge of the output in pixels", fromPreset),
  square: option("square", "square", flag, "squash to size x size as the seed tutorial does", fromPreset),
  iterations: option("iterations", "iterations", whole(1, 100_000), "outer iterations per scale; L-BFGS restarts each time", fromPreset),
  evalsPerIteration: option("evalsPerIteration", "evaluations per iteration", whole(1, 100_000), "loss+gradient evaluations per outer iteration (scipy's maxfun)", fromPreset),
  optimizer: option("optimizer", "optimizer", choice(["lbfgs", "adam"] as const), "optimiser", fromPreset),
  lr: option("lr", "learning rate", positive("<rate>"), "Adam's learning rate, in pixel units", fromPreset),
  contentWeight: option("contentWeight", "content weight", real(0), "weight of the content loss", fromPreset),
  styleWeight: option("styleWeight", "style weight", real(0), "weight of the style loss", fromPreset),
  tvWeight: option("tvWeight", "TV weight", real(0), "weight of the total-variation loss", fromPreset),
  // Below 1 the TV gradient is infinite where neighbouring pixels are equal.
  tvPower: option("tvPower", "TV power", real(1, 4, "<p>"), "exponent of the total-variation loss, >= 1", fromPreset),
  contentLayers: option("contentLayers", "content layers", layers, "comma-separated layers, each with an optional :weight", fromPreset),
  styleLayers: option("styleLayers", "style layers", layers, "comma-separated layers, each with an optional :weight", fromPreset),
  normalization: option("normalization", "normalization", choice(NORMALIZATIONS, "<mode>"), "loss normalisation: image = by the input image's channels and pixels (METHOD.md), gatys = per layer, balanced = each layer relative to its target", fromPreset),
  pooling: option("pooling", "pooling", choice(POOLINGS, "<kind>"), "pooling in the network", fromPreset),
  init: option("init", "init", choice(["noise", "content", "recolored", "style"] as const, "<kind>"), "starting image; recolored = the photo in the painting's colours", fromPreset),
  initImage: option("initImage", "init image", image, "start from this image instead"),
  seed: option("seed", "seed", whole(0, 2 ** 32 - 1), "seed of the noise start; the same seed gives the same picture", { default: 0 }),
  styleBlend: option("styleBlend", "style blend", weightList, "comma-separated weights, one per style image (default: equal)"),
  styleScale: option("styleScale", "style scale", real(0.25, 4, "<k>"), "style image size relative to the output, 0.25..4: larger gives larger brush strokes", fromPreset),
  mask: option("mask", "mask", image, "region mask: black keeps the content; each other colour, in order of first appearance from the top-left, takes the style image of the same rank"),
  preserveColors: option("preserveColors", "preserve-colors mode", choice(["none", "luminance", "histogram"] as const, "<mode>"), "keep the content's colours", fromPreset),
  scales: option("scales", "scales", scales, "coarse-to-fine scales from ~128 px up in sqrt(2) steps", fromPreset),
  coarseFactor: option("coarseFactor", "coarse factor", real(0.25, 4, "<k>"), "each coarser scale runs k times the evaluations of the next finer one, 0.25..4", fromPreset),
  threads: option("threads", "threads", whole(1, 256), "compute threads (default: one per core)"),
  weights: option("weights", "weights file", file(), "a local Keras VGG .h5 weights file instead of the cached download"),
  maxInputPixels: option("maxInputPixels", "max input pixels", whole(1, Number.MAX_SAFE_INTEGER), "refuse input images with more pixels than this", { default: DEFAULT_MAX_INPUT_PIXELS }),
  // No fixed default: three quarters of the machine's memory (pipeline/MemoryBudget).
  maxMemory: option("maxMemory", "max memory", memory, "memory a run may use, e.g. 8G or 6000M (default: 75% of RAM): a larger run keeps 32-bit vectors, then runs in windows; one that still does not fit is refused up front"),
  previewEvery: option("previewEvery", "preview interval", whole(0, 1_000_000), "encode a preview PNG every N evaluations (0 = never)", { default: 0, cliFlag: false }),
  format: option("format", "format", choice(["png", "jpg", "webp"] as const), "output encoding of the final image", { default: "png", cliFlag: false }),
};

export type OptionKey = keyof typeof OPTIONS;
export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[];

/** The value type of an option. */
export type OptionValue<K extends OptionKey> = (typeof OPTIONS)[K] extends OptionSpec<infer T> ? T : never;

/** Every option, optional: what a caller may set (pipeline/types' StylizeOptions adds the images). */
export type OptionValues = { [K in OptionKey]?: OptionValue<K> };
