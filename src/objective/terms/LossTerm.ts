import type { GraphBuilder } from "../../graph/GraphBuilder.js";
import type { Activation, ImageSize } from "../../backbone/Backbone.js";
import type { LayerWeight, ObjectiveOptions, ObjectiveSpec } from "../ObjectiveSpec.js";

/**
 * One loss term of the objective, in one module: which options make it apply, the layers it reads,
 * the features it needs from the target images, how those become its target inputs, and its graph
 * nodes (value and gradient, with its normalisation and coarse-scale weighting). Terms are listed
 * once, in objective/LossTerms.ts; the graph, the session, progress, reports and the page carry
 * their values as `terms: Record<name, number>`.
 */
export interface LossTerm {
  /** Key of the term's value in evaluations, progress events and reports. */
  readonly name: string;
  /** Whether the objective has this term (two terms of the same name never both apply). */
  applies(options: ObjectiveOptions): boolean;
  /** The network layers it reads; the network is built only as deep as the deepest one. */
  layers(options: ObjectiveOptions): readonly LayerWeight[];
  /**
   * Declares the features it needs from every target image (content and style images) in the
   * forward-only target graph. Features are shared by name between terms.
   */
  features?(f: FeatureGraph, options: ObjectiveOptions): void;
  /**
   * Its target inputs, by the names it gives them in `build`, from the target images' features.
   * Normalising constants that depend on the targets can be computed here and fed as inputs too.
   */
  targets?(images: TargetImages, spec: ObjectiveSpec): Map<string, Float32Array>;
  /** Adds its nodes; returns its weighted value (a scalar) and reports its gradients through `t`. */
  build(t: TermGraph, spec: ObjectiveSpec): string;
}

/**
 * What a term sees while its nodes are added to an objective graph. The graph may see the whole
 * image or one window of it (objective/Tiles): then `activation` and layer inputs are zero outside
 * the positions the window owns, a term's value must add up over the windows, sums over positions
 * that it needs whole go through `whole`, and values made from whole sums only through `once`.
 */
export interface TermGraph {
  readonly g: GraphBuilder;
  /** The image input [1,3,H,W] (Caffe space), or the window of it. */
  readonly image: Activation;
  /** The network's output at a layer (after its ReLU), [1,C,h,w]. */
  activation(layer: string): Activation;
  /** A target input that this term's `targets` feeds. */
  input(name: string, dims: readonly number[]): string;
  /**
   * A target input over `layer`'s positions: `targets` feeds it for the whole image ([1,C,h,w]);
   * the graph sees it [1,C,h,w] at the activation's size (cut to the window's part).
   */
  layerInput(name: string, channels: number, layer: string): string;
  /**
   * A sum over positions the term needs for the whole image (a Gram matrix, an energy): `compute()`
   * here, or, in a window, an input holding the whole image's sum, which a first pass adds up from
   * every window's `compute()` over the positions it owns.
   */
  whole(name: string, dims: readonly number[], compute: () => string): string;
  /** A value made from whole sums only: counted once however many windows there are. */
  once(value: string): string;
  /**
   * The 0/1 map [1,1,height,width] (from the top left) of the image's positions this graph owns,
   * for terms of the image itself; undefined when it sees the whole image.
   */
  ownedPixels(height: number, width: number): string | undefined;
  /** d term / d activation at a layer; the network's backward pass carries it to the image. */
  addLayerGradient(layer: string, grad: string): void;
  /** d term / d image, for terms of the image itself. */
  addImageGradient(grad: string): void;
}

/** The forward-only graph run on each target image. */
export interface FeatureGraph {
  readonly g: GraphBuilder;
  activation(layer: string): Activation;
  /**
   * Makes `compute()` an output called `name` unless another term already did: a sum over positions,
   * or, with `layer`, a map over that layer's positions (windows of a large image fill in their parts).
   */
  feature(name: string, compute: () => { tensor: string; dims: readonly number[]; layer?: string }): void;
}

/** Features (by name, as declared in `features`) of one target image. */
export type Features = ReadonlyMap<string, Float32Array>;

export type { ImageSize };

/** The target images of one scale, through the target graph. */
export interface TargetImages {
  readonly content: Features;
  /** Every style image at the size it was used at, with its blend weight (the weights sum to 1). */
  readonly styles: readonly { readonly features: Features; readonly size: ImageSize; readonly blend: number }[];
  /** With a region mask: style `style`'s soft mask at `layer`, [1,1,h,w] flattened. */
  readonly regionMask?: (style: number, layer: string) => Float32Array;
}

/** Layer weights divided by their sum, so a term is the weighted mean over its layers. */
export function relativeWeights(layers: readonly LayerWeight[]): LayerWeight[] {
  const total = layers.reduce((s, l) => s + l.weight, 0);
  return layers.map((l) => ({ layer: l.layer, weight: l.weight / total }));
}

/** The sum of scalar nodes, left to right (0 when there are none). */
export function sum(g: GraphBuilder, values: readonly string[]): string {
  return values.length ? values.reduce((acc, v) => g.op("Add", [acc, v])) : g.scalar(0);
}

/** F: the activation reshaped to [C, h*w]. */
export function flatten(g: GraphBuilder, a: Activation): string {
  return g.op("Reshape", [a.tensor, g.ints([a.channels, a.height * a.width])]);
}

/** G = F F^T of a flattened activation; no normalisation (that lives in the loss scale). */
export function gram(g: GraphBuilder, flat: string): string {
  return g.op("Gemm", [flat, flat], { transB: 1 });
}

/** sum(x^2) as a graph scalar. */
export function energy(g: GraphBuilder, x: string): string {
  return g.op("ReduceSumSquare", [x], { keepdims: 0 });
}

/**
 * 1 / energy as a graph scalar (guarded against an all-zero target): the `balanced` normalisation
 * divides a layer's squared error by its target's squared norm, so every layer's term is a relative
 * error near 1 for an unrelated image, whatever the layer's scale.
 */
export function inverse(g: GraphBuilder, energy: string): string {
  return g.op("Reciprocal", [g.op("Max", [energy, g.scalar(1e-12)])]);
}

/** The name of a style layer's Gram matrix, as a target-image feature and as a graph input. */
export const gramName = (layer: string) => `gram:${layer}`;

/** Declares every style layer's Gram matrix as a target-image feature. */
export function gramFeatures(f: FeatureGraph, layers: readonly LayerWeight[]): void {
  for (const { layer } of layers) {
    f.feature(gramName(layer), () => {
      const a = f.activation(layer);
      return { tensor: gram(f.g, flatten(f.g, a)), dims: [a.channels, a.channels] };
    });
  }
}
