import type { LossTerm } from "./LossTerm.js";

/**
 * The seed's total variation: tvWeight * sum over i<H-1, j<W-1, all channels of (d1^2 + d2^2)^p
 * with d1 = x[i,j]-x[i+1,j], d2 = x[i,j]-x[i,j+1], p = tvPower. With s = d1^2 + d2^2 and
 * t = 2 p s^(p-1): x[i,j] gets t(d1+d2), x[i+1,j] gets -t d1 and x[i,j+1] gets -t d2, each placed
 * back with a Pad. It sums over pixels, so at a coarse scale its weight grows by the pixel ratio;
 * `balanced` takes the mean over its 3 (H-1) (W-1) terms instead, the same at every size.
 */
export const totalVariationTerm: LossTerm = {
  name: "tv",
  applies: () => true,
  layers: () => [],

  build({ g, image, ownedPixels, addImageGradient }, spec) {
    const { tvPower: power } = spec;
    const { height, width } = image;
    const balanced = spec.normalization === "balanced";
    const scale = (spec.tvWeight * (balanced ? 1 : (spec.pixelRatio ?? 1))) / (balanced ? 3 * (spec.height - 1) * (spec.width - 1) : 1);
    const crop = (y0: number, x0: number) => g.op("Slice", [image.tensor, g.ints([y0, x0]), g.ints([y0 + height - 1, x0 + width - 1]), g.ints([2, 3])]);
    const here = crop(0, 0);
    const d1 = g.op("Sub", [here, crop(1, 0)]);
    const d2 = g.op("Sub", [here, crop(0, 1)]);
    const s = g.op("Add", [g.op("Mul", [d1, d1]), g.op("Mul", [d2, d2])]);
    // In a window, only the pairs starting at its own pixels count (each pair once over all windows).
    const owned = ownedPixels(height - 1, width - 1);
    const only = (v: string) => (owned ? g.op("Mul", [v, owned]) : v);
    const value = g.op("Mul", [g.op("ReduceSum", [only(g.op("Pow", [s, g.scalar(power)]))], { keepdims: 0 }), g.scalar(scale)]);
    const t = only(g.op("Mul", [g.op("Pow", [s, g.scalar(power - 1)]), g.scalar(2 * power * scale)]));
    const td1 = g.op("Mul", [t, d1]);
    const td2 = g.op("Mul", [t, d2]);
    // Pads are [top, left, bottom, right] on the H and W axes of NCHW.
    const place = (v: string, top: number, left: number) =>
      g.op("Pad", [v, g.ints([0, 0, top, left, 0, 0, 1 - top, 1 - left]), g.scalar(0)]);
    addImageGradient(g.op("Sub", [g.op("Sub", [place(g.op("Add", [td1, td2]), 0, 0), place(td1, 1, 0)]), place(td2, 0, 1)]));
    return value;
  },
};
