import { backboneFor, type Activation, type ModelName } from "../../backbone/Backbone.js";
import type { GraphBuilder } from "../../graph/GraphBuilder.js";
import type { Normalization, ObjectiveSpec } from "../ObjectiveSpec.js";
import { energy, flatten, gram, gramFeatures, gramName, inverse, relativeWeights, sum, type ImageSize, type LossTerm } from "./LossTerm.js";

/** `layer`'s activation `a` (whose size may be a window's) in an objective of `spec`'s image size. */
type Scale = (g: GraphBuilder, spec: ObjectiveSpec, layer: string, a: Activation, target: string, weight: number) => string;

/** The scale k (a graph scalar) of a layer's style error sum((G-A)^2), times `weight`, for each normalisation. */
const NORMALISATION: Record<Normalization, Scale> = {
  /** METHOD.md: 1 / (4 * 3^2 * (H*W)^2) with H*W the input image's pixel count. */
  image: (g, spec, _layer, _a, _target, weight) => g.scalar(weight * (1 / (4 * 3 ** 2 * (spec.height * spec.width) ** 2))),
  /** Gatys et al.: 1 / (4 C^2 (h w)^2) with the layer's own channels and pixel count. */
  gatys: (g, spec, layer, a, _target, weight) => g.scalar(weight * (1 / (4 * a.channels ** 2 * layerPixels(spec.model, spec, layer) ** 2))),
  /** 1 / sum(A^2): the error relative to the target's own energy. */
  balanced: (g, _spec, _layer, _a, target, weight) => g.op("Mul", [inverse(g, energy(g, target)), g.scalar(weight)]),
};

export const styleScale: Scale = (g, spec, layer, a, target, weight) => NORMALISATION[spec.normalization](g, spec, layer, a, target, weight);

/** Pixel count of `layer`'s activations for an image of `size`. */
export function layerPixels(model: ModelName, size: ImageSize, layer: string): number {
  const { width, height } = backboneFor(model).featureSize(size, layer);
  return width * height;
}

/**
 * Style: styleWeight * sum_l w_l k_l sum((G_l - A_l)^2) / sum_l w_l over the style layers, with
 * G = F F^T the image's Gram matrix and A the style target; d/dF = 4 k (G - A) F as G is symmetric.
 * It is a mean over pixels already, so its weight does not change with the scale.
 */
export const styleTerm: LossTerm = {
  name: "style",
  applies: (o) => !o.styleRegions,
  layers: (o) => o.styleLayers,
  features: (f, o) => gramFeatures(f, o.styleLayers),

  /**
   * Each style image's Gram divided by its own layer's pixel count, times the output's: comparable
   * across sizes; the style images' Grams blended by weight.
   */
  targets(images, spec) {
    const out = new Map<string, Float32Array>();
    images.styles.forEach((style, i) => {
      for (const { layer } of spec.styleLayers) {
        const g = style.features.get(gramName(layer))!;
        const k = style.blend * (1 / layerPixels(spec.model, style.size, layer)) * layerPixels(spec.model, spec, layer);
        const acc = out.get(gramName(layer)) ?? new Float32Array(g.length);
        for (let j = 0; j < g.length; j++) acc[j] += k * g[j];
        out.set(gramName(layer), acc);
      }
    });
    return out;
  },

  build(t, spec) {
    const { g } = t;
    const values = relativeWeights(spec.styleLayers).map(({ layer, weight }) => {
      const a = t.activation(layer);
      const target = t.input(gramName(layer), [a.channels, a.channels]);
      const scale = styleScale(g, spec, layer, a, target, spec.styleWeight * weight);
      const flat = flatten(g, a);
      const G = t.whole(gramName(layer), [a.channels, a.channels], () => gram(g, flat));
      const diff = g.op("Sub", [G, target]);
      const value = t.once(g.op("Mul", [g.op("ReduceSumSquare", [diff], { keepdims: 0 }), scale]));
      const dFlat = g.op("MatMul", [g.op("Mul", [diff, g.op("Mul", [scale, g.scalar(4)])]), flat]);
      t.addLayerGradient(layer, g.op("Reshape", [dFlat, g.ints([1, a.channels, a.height, a.width])]));
      return value;
    });
    return sum(g, values);
  },
};
