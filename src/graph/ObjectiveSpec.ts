import type { ModelName } from "../model/VggArchitecture.js";

/** A layer and its relative weight within its loss term. */
export interface LayerWeight {
  readonly layer: string;
  readonly weight: number;
}

/**
 * `seed`: exactly METHOD.md: style E_l = sum((G-A)^2) / (4 * 3^2 * (H*W)^2) with H*W the INPUT
 *         image's pixel count; content sum((F-P)^2).
 * `gatys`: per layer, style E_l = sum((G-A)^2) / (4 C^2 (h w)^2); content 1/2 sum((F-P)^2).
 * `balanced`: every term relative to its target: style E_l = sum((G-A)^2) / sum(A^2), content
 *         sum((F-P)^2) / sum(P^2), TV the mean over its terms instead of the sum. With Caffe-scale
 *         activations gatys' block4 term outweighs block1's by ~1e4, so colour and fine texture
 *         never arrive; relative errors weigh the layers as the user's layer weights say, and are
 *         independent of the image size (so coarse scales need no reweighting).
 */
export type Normalization = "seed" | "gatys" | "balanced";
export type Pooling = "max" | "avg";

/**
 * Everything that fixes the shape and arithmetic of one objective graph.
 *
 * L_content = sum_l w_l C_l / sum_l w_l     (over contentLayers)
 * L_style   = sum_l w_l E_l / sum_l w_l     (over styleLayers)
 * L_tv      = sum over i<H-1, j<W-1, all channels of ((x[i,j]-x[i+1,j])^2 + (x[i,j]-x[i,j+1])^2)^tvPower
 * L         = contentWeight L_content + styleWeight L_style + tvWeight L_tv
 *
 * x is the image in Caffe space (BGR, ImageNet mean removed), NCHW [1,3,height,width].
 * The reported terms are the weighted contributions, so content + style + tv = loss.
 */
export interface ObjectiveSpec {
  readonly model: ModelName;
  readonly height: number;
  readonly width: number;
  readonly contentLayers: readonly LayerWeight[];
  readonly styleLayers: readonly LayerWeight[];
  readonly contentWeight: number;
  readonly styleWeight: number;
  readonly tvWeight: number;
  readonly tvPower: number;
  readonly normalization: Normalization;
  readonly pooling: Pooling;
  /**
   * Masked style transfer: the number of mask regions that carry a style (0 or absent: none).
   * Each region r has its own Gram target and a soft mask per style layer; its style term compares
   * the Gram of the masked features, G_r = (F m_r)(F m_r)^T, with that target. In `gatys` mode
   * the region's mask energy sum(m_r^2) stands in for h*w.
   */
  readonly styleRegions?: number;
}

/**
 * Targets fed to the objective graph: content features [1,C,h,w] and style Gram matrices [C,C], by
 * layer. With style regions, grams and masks [1,1,h,w] are keyed by regionKey(r, layer).
 */
export interface ObjectiveTargets {
  readonly content: ReadonlyMap<string, Float32Array>;
  readonly grams: ReadonlyMap<string, Float32Array>;
  readonly masks?: ReadonlyMap<string, Float32Array>;
}

export const regionKey = (region: number, layer: string) => `${region}:${layer}`;

/** One evaluation's results. Terms are weighted contributions: content + style + tv = loss. */
export interface Evaluation {
  readonly loss: number;
  readonly content: number;
  readonly style: number;
  readonly tv: number;
  /** d loss / d image, NCHW; float64 only from graphs built in float64 (for gradient checks). */
  readonly grad: Float32Array | Float64Array;
}
