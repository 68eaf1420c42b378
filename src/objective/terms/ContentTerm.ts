import type { Normalization, ObjectiveSpec } from "../ObjectiveSpec.js";
import { energy, inverse, relativeWeights, sum, type LossTerm, type TermGraph } from "./LossTerm.js";

/** The name of a content layer's features, as a target-image feature and as a graph input. */
export const featureName = (layer: string) => `content:${layer}`;

/**
 * The scale k (a graph scalar) of a layer's sum((F-P)^2), times `weight`: `image` 1 as METHOD.md,
 * `gatys` 1/2 as Gatys et al., `balanced` 1 / sum(P^2).
 */
const NORMALISATION: Record<Normalization, (t: TermGraph, layer: string, target: string, weight: number) => string> = {
  image: ({ g }, _layer, _target, weight) => g.scalar(weight),
  gatys: ({ g }, _layer, _target, weight) => g.scalar(0.5 * weight),
  balanced: (t, layer, target, weight) => t.g.op("Mul", [inverse(t.g, t.whole(`energy:${featureName(layer)}`, [], () => energy(t.g, target))), t.g.scalar(weight)]),
};

/**
 * Content: contentWeight * sum_l w_l C_l / sum_l w_l over the content layers, with
 * C_l = k sum((F_l - P_l)^2), F the image's and P the content image's features; d/dF = 2 k (F - P).
 * Unless balanced it sums over pixels, so at a coarse scale its weight grows by the pixel ratio.
 */
export const contentTerm: LossTerm = {
  name: "content",
  applies: () => true,
  layers: (o) => o.contentLayers,

  features(f, o) {
    for (const { layer } of o.contentLayers) {
      f.feature(featureName(layer), () => {
        const a = f.activation(layer);
        return { tensor: a.tensor, dims: [1, a.channels, a.height, a.width], layer };
      });
    }
  },

  targets(images, spec) {
    return new Map(spec.contentLayers.map(({ layer }) => [featureName(layer), images.content.get(featureName(layer))!]));
  },

  build(t, spec: ObjectiveSpec) {
    const { g } = t;
    const weight = spec.contentWeight * (spec.normalization === "balanced" ? 1 : (spec.pixelRatio ?? 1));
    const values = relativeWeights(spec.contentLayers).map(({ layer, weight: w }) => {
      const a = t.activation(layer);
      const target = t.layerInput(featureName(layer), a.channels, layer);
      const scale = NORMALISATION[spec.normalization](t, layer, target, weight * w);
      const diff = g.op("Sub", [a.tensor, target]);
      const value = g.op("Mul", [g.op("ReduceSumSquare", [diff], { keepdims: 0 }), scale]);
      t.addLayerGradient(layer, g.op("Mul", [diff, g.op("Mul", [scale, g.scalar(2)])]));
      return value;
    });
    return sum(g, values);
  },
};
