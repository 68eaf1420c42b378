import type { GraphBuilder } from "./GraphBuilder.js";
import type { Activation } from "./VggGraph.js";

/** A scalar loss term in the graph and its gradient with respect to the tensor it was computed from. */
export interface Term {
  readonly value: string;
  readonly grad: string;
}

/** G = F F^T with F the activation reshaped to [C, h*w]; no normalisation (that lives in the loss scale). */
export function gram(g: GraphBuilder, a: Activation): { flat: string; gram: string } {
  const flat = g.op("Reshape", [a.tensor, g.ints([a.channels, a.height * a.width])]);
  return { flat, gram: g.op("Gemm", [flat, flat], { transB: 1 }) };
}

/**
 * 1 / sum(target^2) as a graph scalar (guarded against an all-zero target): the `balanced`
 * normalisation divides a layer's squared error by its target's squared norm, so every layer's
 * term is a relative error near 1 for an unrelated image, whatever the layer's scale.
 */
export function inverseEnergy(g: GraphBuilder, target: string): string {
  return g.op("Reciprocal", [g.op("Max", [g.op("ReduceSumSquare", [target], { keepdims: 0 }), g.scalar(1e-12)])]);
}

/** scale * sum((F - P)^2); d/dF = 2 scale (F - P). `scale` is a graph scalar. */
export function contentTerm(g: GraphBuilder, a: Activation, target: string, scale: string): Term {
  const diff = g.op("Sub", [a.tensor, target]);
  const value = g.op("Mul", [g.op("ReduceSumSquare", [diff], { keepdims: 0 }), scale]);
  return { value, grad: g.op("Mul", [diff, g.op("Mul", [scale, g.scalar(2)])]) };
}

/** scale * sum((G - A)^2); d/dF = 4 scale (G - A) F, since G is symmetric. `scale` is a graph scalar. */
export function styleTerm(g: GraphBuilder, a: Activation, targetGram: string, scale: string): Term {
  const { flat, gram: G } = gram(g, a);
  const diff = g.op("Sub", [G, targetGram]);
  const value = g.op("Mul", [g.op("ReduceSumSquare", [diff], { keepdims: 0 }), scale]);
  const dFlat = g.op("MatMul", [g.op("Mul", [diff, g.op("Mul", [scale, g.scalar(4)])]), flat]);
  return { value, grad: g.op("Reshape", [dFlat, g.ints([1, a.channels, a.height, a.width])]) };
}

/**
 * Style term over one mask region m ([1,1,h,w], values in 0..1): with M = F m,
 * scale * sum((M M^T - A)^2) and d/dF = m * 4 scale (M M^T - A) M. `scale` is a graph scalar
 * because gatys normalisation divides by the region's mask energy, which is an input.
 */
export function maskedStyleTerm(g: GraphBuilder, a: Activation, mask: string, targetGram: string, scale: string): Term {
  const masked: Activation = { ...a, tensor: g.op("Mul", [a.tensor, mask]) };
  const { flat, gram: G } = gram(g, masked);
  const diff = g.op("Sub", [G, targetGram]);
  const value = g.op("Mul", [g.op("ReduceSumSquare", [diff], { keepdims: 0 }), scale]);
  const dFlat = g.op("MatMul", [g.op("Mul", [diff, g.op("Mul", [scale, g.scalar(4)])]), flat]);
  const dMasked = g.op("Reshape", [dFlat, g.ints([1, a.channels, a.height, a.width])]);
  return { value, grad: g.op("Mul", [dMasked, mask]) };
}

/**
 * The seed's total variation: sum over i<H-1, j<W-1 of (d1^2 + d2^2)^p with d1 = x[i,j]-x[i+1,j],
 * d2 = x[i,j]-x[i,j+1]. With s = d1^2 + d2^2 and t = 2 p s^(p-1): x[i,j] gets t(d1+d2), x[i+1,j]
 * gets -t d1 and x[i,j+1] gets -t d2, each placed back with a Pad.
 */
export function totalVariationTerm(g: GraphBuilder, image: string, height: number, width: number, power: number, scale: number): Term {
  const crop = (y0: number, x0: number) => g.op("Slice", [image, g.ints([y0, x0]), g.ints([y0 + height - 1, x0 + width - 1]), g.ints([2, 3])]);
  const here = crop(0, 0);
  const d1 = g.op("Sub", [here, crop(1, 0)]);
  const d2 = g.op("Sub", [here, crop(0, 1)]);
  const s = g.op("Add", [g.op("Mul", [d1, d1]), g.op("Mul", [d2, d2])]);
  const value = g.op("Mul", [g.op("ReduceSum", [g.op("Pow", [s, g.scalar(power)])], { keepdims: 0 }), g.scalar(scale)]);
  const t = g.op("Mul", [g.op("Pow", [s, g.scalar(power - 1)]), g.scalar(2 * power * scale)]);
  const td1 = g.op("Mul", [t, d1]);
  const td2 = g.op("Mul", [t, d2]);
  // Pads are [top, left, bottom, right] on the H and W axes of NCHW.
  const place = (v: string, top: number, left: number) =>
    g.op("Pad", [v, g.ints([0, 0, top, left, 0, 0, 1 - top, 1 - left]), g.scalar(0)]);
  const grad = g.op("Sub", [g.op("Sub", [place(g.op("Add", [td1, td2]), 0, 0), place(td1, 1, 0)]), place(td2, 0, 1)]);
  return { value, grad };
}
