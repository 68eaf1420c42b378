import type { GraphBuilder } from "../graph/GraphBuilder.js";
import type { RgbImage } from "../image/ImageIO.js";
import type { CatalogueEntry, ResolveWeightsOptions } from "../weights/WeightStore.js";
import { VGG_MODELS, type VggModel } from "./VggArchitecture.js";
import { vggBackbone } from "./VggBackbone.js";

/**
 * The pre-trained network whose features the loss terms compare. Everything that depends on which
 * network it is sits behind this interface; the rest of the program asks `backboneFor(model)`.
 */
export interface Backbone {
  readonly model: ModelName;
  /** Its layers in execution order (convs are followed by their ReLU). */
  readonly layers: readonly Layer[];
  /** The layers from the first through `layer`; an unknown name is a BAD_OPTION listing the known ones. */
  layersThrough(layer: string): Layer[];
  /** Number of 2x2/2 poolings up to `layer`'s output (region masks are pooled alike). */
  poolsThrough(layer: string): number;
  /** Width and height of `layer`'s activations for an input of `size`. */
  featureSize(size: ImageSize, layer: string): ImageSize;
  /** Smallest input side that still has activations at `layer`. */
  minimumInputSide(layer: string): number;
  /** RGB bytes to the network's input space, NCHW [1,3,H,W]; `out` receives them when given. */
  toInput(img: RgbImage): Float32Array;
  toInput<T extends Float32Array | Float64Array>(img: RgbImage, out: T): T;
  /** The inverse of toInput, rounded and clipped to bytes. */
  fromInput(tensor: Float32Array | Float64Array, width: number, height: number): RgbImage;
  /** Its forward pass into `g`, with the hand-derived backward pass that ONNX lacks. */
  graph(g: GraphBuilder, weights: BackboneWeights, pooling: Pooling): BackboneGraph;
  /** The canonical weights file (downloaded into the cache when no file is given). */
  readonly catalogue: CatalogueEntry;
  /** Reads and checks a weights file, up to `options.upTo` when given. */
  loadWeights(file: string, options?: LoadWeightsOptions): Promise<BackboneWeights>;
  /** The user's file, the cached catalogue file or a download (WeightStore), then loadWeights. */
  obtainWeights(options: ObtainWeightsOptions): Promise<BackboneWeights>;
}

export type ModelName = VggModel;

const BACKBONES: Readonly<Record<ModelName, Backbone>> = Object.fromEntries(VGG_MODELS.map((m) => [m, vggBackbone(m)])) as Record<ModelName, Backbone>;

export const MODEL_NAMES: readonly ModelName[] = VGG_MODELS;

export function backboneFor(model: ModelName): Backbone {
  return BACKBONES[model];
}

/** The network's 2x2/2 pooling: Keras' max, or average (Gatys et al.'s suggestion). */
export type Pooling = "max" | "avg";
export const POOLINGS: readonly Pooling[] = ["max", "avg"];

export interface ImageSize {
  readonly width: number;
  readonly height: number;
}

export interface ConvLayer {
  readonly kind: "conv";
  readonly name: string;
  readonly inChannels: number;
  readonly outChannels: number;
}
export interface PoolLayer {
  readonly kind: "pool";
  readonly name: string;
}
export type Layer = ConvLayer | PoolLayer;

/** A tensor in the graph with its NCHW shape (N = 1). */
export interface Activation {
  readonly tensor: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

export interface BackboneGraph {
  /** Runs layers from the image [1,3,H,W] through `deepest`; returns every layer's output by name (convs after ReLU). */
  forward(image: string, height: number, width: number, deepest: string): Map<string, Activation>;
  /** Gradient with respect to the image, given d loss / d activation at some layers. */
  backward(gradients: ReadonlyMap<string, string>): string;
}

/** One conv layer's parameters exactly as Keras stores them: kernel HWIO [3,3,in,out], bias [out]. */
export interface ConvParams {
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
  readonly inChannels: number;
  readonly outChannels: number;
}

/** A network's conv weights, keyed by layer name (block1_conv1 ...). */
export interface BackboneWeights {
  readonly model: ModelName;
  readonly layers: ReadonlyMap<string, ConvParams>;
  /**
   * Where they came from, for reports: a file path, its md5, whether that is the catalogue's file,
   * and a note for the user when it is not.
   */
  readonly source: {
    readonly path: string;
    readonly md5: string;
    readonly catalogued: boolean;
    readonly note?: string;
  };
}

export interface LoadWeightsOptions {
  /**
   * Load only the layers up to this layer (inclusive); the engine computes nothing deeper. The file
   * may then also lack the layers after it.
   */
  upTo?: string;
  /** Provenance already known (from resolveWeights), so the file is not hashed a second time. */
  source?: { md5: string; catalogued: boolean; note?: string };
}

export type ObtainWeightsOptions = Omit<ResolveWeightsOptions, "entry"> & {
  upTo?: string;
  /** Defaults to the backbone's catalogue entry; tests point it at a local server. */
  entry?: CatalogueEntry;
};
