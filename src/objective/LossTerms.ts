import type { LayerWeight, ObjectiveOptions, ObjectiveSpec, ObjectiveTargets } from "./ObjectiveSpec.js";
import { contentTerm } from "./terms/ContentTerm.js";
import type { LossTerm, TargetImages } from "./terms/LossTerm.js";
import { maskedStyleTerm } from "./terms/MaskedStyleTerm.js";
import { styleTerm } from "./terms/StyleTerm.js";
import { totalVariationTerm } from "./terms/TotalVariationTerm.js";

/** Every loss term, in the order their values are summed. A new term is one module plus one line here. */
export const LOSS_TERMS: readonly LossTerm[] = [contentTerm, styleTerm, maskedStyleTerm, totalVariationTerm];

/** The terms of an objective. */
export function activeTerms(options: ObjectiveOptions): LossTerm[] {
  return LOSS_TERMS.filter((t) => t.applies(options));
}

/** Every layer the objective's terms read. */
export function termLayers(options: ObjectiveOptions): LayerWeight[] {
  return activeTerms(options).flatMap((t) => t.layers(options));
}

/** The objective's target inputs at one scale, from the target images' features. */
export function prepareTargets(spec: ObjectiveSpec, images: TargetImages): ObjectiveTargets {
  const targets = new Map<string, Float32Array>();
  for (const term of activeTerms(spec)) for (const [name, data] of term.targets?.(images, spec) ?? []) targets.set(name, data);
  return targets;
}
