import { backboneFor, type BackboneWeights, type ConvParams, type ModelName } from "../../src/backbone/Backbone.js";
import { mulberry32 } from "../../src/util/Random.js";

/**
 * In-memory VGG weights with He-scaled uniform values (activations keep a sane range through the
 * net) and small positive biases, for layers up to `upTo` (default: all).
 */
export function randomVggWeights(model: ModelName, seed: number, upTo?: string): BackboneWeights {
  const rand = mulberry32(seed);
  const layers = new Map<string, ConvParams>();
  for (const l of backboneFor(model).layers) {
    if (l.kind !== "conv") continue;
    const bound = Math.sqrt(6 / (9 * l.inChannels));
    const kernel = new Float32Array(9 * l.inChannels * l.outChannels).map(() => (2 * rand() - 1) * bound);
    const bias = new Float32Array(l.outChannels).map(() => 0.1 * rand());
    layers.set(l.name, { kernel, bias, inChannels: l.inChannels, outChannels: l.outChannels });
    if (l.name === upTo) break;
  }
  return { model, layers, source: { path: "<generated>", md5: "", catalogued: false } };
}

/** A random image in Caffe space (roughly -128..128), NCHW [1,3,h,w]. */
export function randomImage(height: number, width: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return new Float32Array(3 * height * width).map(() => 255 * rand() - 128);
}
