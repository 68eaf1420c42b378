import type { ModelName, Pooling } from "../backbone/Backbone.js";

export type { Pooling };

/** A layer and its relative weight within its loss term. */
export interface LayerWeight {
  readonly layer: string;
  readonly weight: number;
}

/**
 * How the loss terms are scaled; each term module says what a mode means for it.
 * `image`: exactly METHOD.md: style by the input image's 3 channels and pixel count, 1/(4 * 3^2 * (H*W)^2),
 *         whatever the layer; content unscaled.
 * `gatys`: per layer, by its own channels and pixel count (Gatys et al.).
 * `balanced`: every term relative to its target (style and content by the target's squared norm,
 *         TV as a mean). With Caffe-scale activations gatys' block4 term outweighs block1's by ~1e4,
 *         so colour and fine texture never arrive; relative errors weigh the layers as the user's
 *         layer weights say, and are independent of the image size (so coarse scales need no
 *         reweighting).
 */
export type Normalization = "image" | "gatys" | "balanced";
export const NORMALIZATIONS: readonly Normalization[] = ["image", "gatys", "balanced"];

/**
 * What fixes the arithmetic of an objective apart from the image size: the network and each loss
 * term's options. The terms (objective/terms/) read their own fields.
 *
 * L = sum over the terms that apply of their weighted contributions; x is the image in Caffe space
 * (BGR, ImageNet mean removed), NCHW [1,3,height,width].
 */
export interface ObjectiveOptions {
  readonly model: ModelName;
  readonly pooling: Pooling;
  readonly normalization: Normalization;
  readonly contentLayers: readonly LayerWeight[];
  readonly styleLayers: readonly LayerWeight[];
  readonly contentWeight: number;
  readonly styleWeight: number;
  readonly tvWeight: number;
  readonly tvPower: number;
  /**
   * Masked style transfer: the number of mask regions that carry a style (0 or absent: none).
   * Each region has its own Gram target and a soft mask per style layer (terms/MaskedStyleTerm).
   */
  readonly styleRegions?: number;
}

/** Everything that fixes the shape and arithmetic of one objective graph. */
export interface ObjectiveSpec extends ObjectiveOptions {
  readonly height: number;
  readonly width: number;
  /**
   * Full-size pixel count over this size's (1 when absent). Coarse-to-fine runs evaluate the
   * objective at smaller sizes; each term scales its weight by it as its sums need to keep the full
   * size's balance between terms.
   */
  readonly pixelRatio?: number;
}

/** Target tensors fed to the objective graph, by input name (each term names its own inputs). */
export type ObjectiveTargets = ReadonlyMap<string, Float32Array>;

/** One evaluation's results. `terms` are the weighted contributions by term name; they sum to `loss`. */
export interface ObjectiveEvaluation {
  readonly loss: number;
  readonly terms: Record<string, number>;
  /** d loss / d image, NCHW; float64 only from graphs built in float64 (for gradient checks). */
  readonly grad: Float32Array | Float64Array;
}
