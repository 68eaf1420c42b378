import type { Activation } from "../../backbone/Backbone.js";
import type { ObjectiveSpec } from "../ObjectiveSpec.js";
import { energy, flatten, gram, gramFeatures, gramName, relativeWeights, sum, type LossTerm, type TermGraph } from "./LossTerm.js";
import { layerPixels, styleScale } from "./StyleTerm.js";

const regionKey = (region: number, layer: string) => `${region}:${layer}`;
const maskName = (region: number, layer: string) => `mask:${regionKey(region, layer)}`;

/**
 * The region's style scale. `image` and `balanced` keep the unmasked term's; `gatys` divides by the
 * region's mask energy sum(m^2), which stands in for h*w (guarded for empty regions) and is an
 * input, so the scale is a graph node.
 */
function regionScale(t: TermGraph, spec: ObjectiveSpec, layer: string, region: number, a: Activation, mask: string, target: string, weight: number): string {
  const { g } = t;
  if (spec.normalization !== "gatys") return styleScale(g, spec, layer, a, target, weight);
  const covered = g.op("Max", [t.whole(`mask-energy:${regionKey(region, layer)}`, [], () => energy(g, mask)), g.scalar(1e-6)]);
  return g.op("Div", [g.scalar(weight / (4 * a.channels ** 2)), g.op("Mul", [covered, covered])]);
}

/**
 * Style under a region mask: style image r applies where its mask m_r ([1,1,h,w], values in 0..1)
 * is. With M = F m_r, each region adds scale * sum((M M^T - A_r)^2) and d/dF = m_r * 4 scale (M M^T - A_r) M.
 * Reported as `style`; it replaces the unmasked style term when the spec has style regions.
 */
export const maskedStyleTerm: LossTerm = {
  name: "style",
  applies: (o) => Boolean(o.styleRegions),
  layers: (o) => o.styleLayers,
  features: (f, o) => gramFeatures(f, o.styleLayers),

  /** Each style image's Gram per pixel of its own layer, times the pixels its region covers: sum(m^2). */
  targets(images, spec) {
    const out = new Map<string, Float32Array>();
    const regionMask = images.regionMask;
    if (!regionMask) throw new Error("masked style targets need the region masks");
    images.styles.forEach((style, r) => {
      for (const { layer } of spec.styleLayers) {
        const perPixel = 1 / layerPixels(spec.model, style.size, layer);
        const mask = regionMask(r, layer);
        const energy = mask.reduce((total, m) => total + m * m, 0);
        out.set(maskName(r, layer), mask);
        out.set(gramName(regionKey(r, layer)), style.features.get(gramName(layer))!.map((v) => v * perPixel * energy));
      }
    });
    return out;
  },

  build(t, spec) {
    const { g } = t;
    const values = relativeWeights(spec.styleLayers).flatMap(({ layer, weight }) => {
      const a = t.activation(layer);
      const regionValues: string[] = [];
      for (let r = 0; r < (spec.styleRegions ?? 0); r++) {
        const gramShape = [a.channels, a.channels];
        const mask = t.layerInput(maskName(r, layer), 1, layer);
        const target = t.input(gramName(regionKey(r, layer)), gramShape);
        const scale = regionScale(t, spec, layer, r, a, mask, target, spec.styleWeight * weight);
        const flat = flatten(g, { ...a, tensor: g.op("Mul", [a.tensor, mask]) });
        const G = t.whole(gramName(regionKey(r, layer)), gramShape, () => gram(g, flat));
        const diff = g.op("Sub", [G, target]);
        regionValues.push(t.once(g.op("Mul", [g.op("ReduceSumSquare", [diff], { keepdims: 0 }), scale])));
        const dFlat = g.op("MatMul", [g.op("Mul", [diff, g.op("Mul", [scale, g.scalar(4)])]), flat]);
        const dMasked = g.op("Reshape", [dFlat, g.ints([1, a.channels, a.height, a.width])]);
        t.addLayerGradient(layer, g.op("Mul", [dMasked, mask]));
      }
      return regionValues;
    });
    return sum(g, values);
  },
};
