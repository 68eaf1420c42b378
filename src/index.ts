/** The library API: one call per run, typed options, events, a typed result, typed errors. */
export { stylize, StylizeJob, type Checkpoint } from "./pipeline/Stylize.js";
export { estimateMemoryBytes, estimateRunBytes } from "./pipeline/MemoryBudget.js";
export { PRESETS, PRESET_NAMES, type Preset } from "./pipeline/Presets.js";
export { PasticheError, isPasticheError, type ErrorCode } from "./errors.js";
export type {
  StylizeOptions,
  StylizeResult,
  Progress,
  Preview,
  ImageInput,
  PresetName,
  InitMode,
  OptimizerName,
  ColorMode,
} from "./pipeline/types.js";
export type { LayerWeight, Normalization, Pooling } from "./objective/ObjectiveSpec.js";
export type { ModelName } from "./backbone/Backbone.js";
