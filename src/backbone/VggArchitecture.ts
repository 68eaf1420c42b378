import { PasticheError } from "../errors.js";
import type { ConvLayer, ImageSize, Layer } from "./Backbone.js";

/**
 * The convolutional part of VGG16 and VGG19 with Keras layer names.
 * Every conv is 3x3, stride 1, 'same' padding, followed by ReLU; each block ends in a 2x2/2 pool.
 */
export type VggModel = "vgg16" | "vgg19";
export const VGG_MODELS: readonly VggModel[] = ["vgg16", "vgg19"];

const BLOCK_CHANNELS = [64, 128, 256, 512, 512] as const;
const CONVS_PER_BLOCK: Record<VggModel, readonly number[]> = {
  vgg16: [2, 2, 3, 3, 3],
  vgg19: [2, 2, 4, 4, 4],
};

/** Layers in execution order: block1_conv1, block1_conv2, block1_pool, block2_conv1, ... */
export function vggLayers(model: VggModel): Layer[] {
  const layers: Layer[] = [];
  let inChannels = 3;
  CONVS_PER_BLOCK[model].forEach((count, b) => {
    const outChannels = BLOCK_CHANNELS[b];
    for (let c = 1; c <= count; c++) {
      layers.push({ kind: "conv", name: `block${b + 1}_conv${c}`, inChannels, outChannels });
      inChannels = outChannels;
    }
    layers.push({ kind: "pool", name: `block${b + 1}_pool` });
  });
  return layers;
}

export function convLayers(model: VggModel): ConvLayer[] {
  return vggLayers(model).filter((l): l is ConvLayer => l.kind === "conv");
}

/** The model's layers from the first through `layer` (a conv or pool name). */
export function layersThrough(model: VggModel, layer: string): Layer[] {
  const all = vggLayers(model);
  const end = all.findIndex((l) => l.name === layer);
  if (end < 0) {
    const names = all.filter((l) => l.kind === "conv").map((l) => l.name);
    throw new PasticheError("BAD_OPTION", `unknown layer "${layer}" for ${model}; known layers: ${names.join(", ")}`);
  }
  return all.slice(0, end + 1);
}

/** Number of 2x2/2 poolings applied before `layer`'s output (a pool layer counts itself). */
export function poolsThrough(model: VggModel, layer: string): number {
  return layersThrough(model, layer).filter((l) => l.kind === "pool").length;
}

/** Spatial size of the activations after `pools` 2x2/2 poolings (Keras floors odd sizes). */
function pooledSize(size: number, pools: number): number {
  let s = size;
  for (let i = 0; i < pools; i++) s = Math.floor(s / 2);
  return s;
}

/** The one feature-size function: width and height of `layer`'s activations for an input of `size`. */
export function featureSize(model: VggModel, size: ImageSize, layer: string): ImageSize {
  const pools = poolsThrough(model, layer);
  return { width: pooledSize(size.width, pools), height: pooledSize(size.height, pools) };
}

/** Smallest input side that still has activations at `layer`: 2^(poolings before it). */
export function minimumInputSide(model: VggModel, layer: string): number {
  return 2 ** poolsThrough(model, layer);
}
