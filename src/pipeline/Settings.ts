import type { OptionName } from "../errors.js";
import { termLayers } from "../objective/LossTerms.js";
import type { LayerWeight } from "../objective/ObjectiveSpec.js";
import { deepestLayer } from "../objective/ObjectiveGraph.js";
import { backboneFor, type ModelName } from "../backbone/Backbone.js";
import { badOption } from "../options/Check.js";
import { OPTION_KEYS, OPTIONS, type OptionKey, type OptionSpec, type OptionValue } from "./OptionSchema.js";
import { PRESETS, type Preset } from "./Presets.js";
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
  /** Bytes; undefined: three quarters of the machine's memory. */
  readonly maxMemory: number | undefined;
}

/** The value of an option: the caller's, else its default (the preset's field or the schema's), checked. */
function resolve<K extends OptionKey>(key: K, options: StylizeOptions, preset: Preset): OptionValue<K> | undefined {
  const spec = OPTIONS[key] as OptionSpec<OptionValue<K>>;
  const given = options[key] as OptionValue<K> | undefined;
  const value = given ?? (spec.default === "preset" ? (preset[key as keyof Preset] as OptionValue<K>) : spec.default);
  return value === undefined ? undefined : spec.kind.check(spec, value);
}

/** Options that are inputs of a run rather than settings. */
const INPUTS = new Set<OptionKey>(["initImage", "mask", "weights"]);

/** Applies the caller's options over the chosen preset and rejects anything that cannot run. */
export function resolveSettings(options: StylizeOptions): Settings {
  const preset = OPTIONS.preset.kind.check(OPTIONS.preset, options.preset ?? OPTIONS.preset.default);
  const p = PRESETS[preset];
  const styleCount = options.styles.length;
  if (styleCount === 0) throw badOption(() => "no style image given; pass at least one");

  const values: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) if (!INPUTS.has(key)) values[key] = resolve(key, options, p);
  const settings = values as unknown as Omit<Settings, "styleBlend"> & { styleBlend?: number[] };

  const blend = settings.styleBlend ?? Array.from({ length: styleCount }, () => 1);
  if (blend.length !== styleCount) {
    throw badOption((name) => `${name(OPTIONS.styleBlend)} has ${blend.length} weights for ${styleCount} style images; give one per style image`);
  }
  const blendSum = blend.reduce((a, b) => a + b, 0);

  for (const o of [OPTIONS.contentLayers, OPTIONS.styleLayers]) knownLayers(o, settings[o.key as "contentLayers"], settings.model);
  if (settings.contentWeight + settings.styleWeight <= 0) {
    throw badOption((name) => `${name(OPTIONS.contentWeight)} and ${name(OPTIONS.styleWeight)} are both 0; nothing would be optimised`);
  }
  // Adam's last evaluation in a call only measures; with one evaluation per call it never moves.
  if (settings.optimizer === "adam" && settings.evalsPerIteration < 2) {
    throw badOption((name) => `${name(OPTIONS.optimizer)} adam needs ${name(OPTIONS.evalsPerIteration)} of at least 2`);
  }
  return { ...settings, styleBlend: blend.map((w) => w / blendSum) };
}

function knownLayers(option: OptionName, layers: readonly LayerWeight[], model: ModelName): void {
  const { layers: all } = backboneFor(model);
  const known = new Set(all.map((l) => l.name));
  for (const { layer } of layers) {
    if (!known.has(layer)) {
      const convs = all.filter((l) => l.kind === "conv").map((l) => l.name);
      throw badOption((name) => `unknown layer "${layer}" in ${name(option)} for ${model}; known layers: ${convs.join(", ")}`);
    }
  }
}

/** Smallest image side that still has activations at the deepest layer used: 2^(pools before it). */
export function minimumSide(settings: Settings): number {
  return backboneFor(settings.model).minimumInputSide(deepestLayer(settings.model, termLayers(settings)));
}
