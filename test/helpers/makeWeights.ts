/**
 * Writes Keras-layout VGG weight files (like vgg16/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5)
 * filled with seeded random weights, for tests that need real channel counts without the real file.
 *
 *   const tensors = await writeRandomVggH5("/tmp/x/vgg16.h5", "vgg16", { seed: 1 });
 *   const weights = await backboneFor("vgg16").loadWeights("/tmp/x/vgg16.h5");
 *
 * A full VGG16 file (58.9 MB) takes well under a second to write; `upTo` writes a smaller,
 * depth-limited file that loadWeights accepts when its own `upTo` is not deeper.
 */
import { mulberry32 } from "../../src/util/Random.js";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import h5wasm from "h5wasm/node";
import { backboneFor, type ModelName } from "../../src/backbone/Backbone.js";

/** A deliberate flaw, to test that the loader rejects it. */
export type WeightsDefect =
  /** The layer's kernel is written with this shape instead of [3,3,in,out]. */
  | { kind: "wrongShape"; layer: string; shape: number[] }
  /** The layer is absent: no group and no entry in layer_names. */
  | { kind: "missingLayer"; layer: string }
  /** The layer's kernel is stored as float64. */
  | { kind: "wrongDtype"; layer: string }
  /** The layer's bias holds a NaN. */
  | { kind: "nonFinite"; layer: string }
  /** No root attribute layer_names. */
  | { kind: "noLayerNames" };

export interface RandomWeightsOptions {
  seed: number;
  /** Write only the layers up to this one (a conv or pool name, inclusive). Default: all. */
  upTo?: string;
  defect?: WeightsDefect;
  /** Dataset names are <layer>_W<suffix> and <layer>_b<suffix>; Keras writes "_1:0" (default). */
  weightSuffix?: string;
}

/** The tensors as written (kernel HWIO [3,3,in,out], bias [out]), keyed by layer name. */
export type WrittenWeights = Map<string, { kernel: Float32Array; bias: Float32Array }>;


function normals(count: number, std: number, rand: () => number): Float32Array {
  const out = new Float32Array(count);
  // Box-Muller yields two normals per pair of uniforms.
  for (let i = 0; i < count; i += 2) {
    const r = std * Math.sqrt(-2 * Math.log(1 - rand()));
    const theta = 2 * Math.PI * rand();
    out[i] = r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

/**
 * Writes a structurally valid Keras "notop" file for `model` with He-initialised kernels
 * (std = sqrt(2 / (9 * in)), so activations keep their scale through the ReLU stack) and small
 * random biases. Same seed, same bytes of weights.
 */
export async function writeRandomVggH5(file: string, model: ModelName, options: RandomWeightsOptions): Promise<WrittenWeights> {
  const module = await h5wasm.ready;
  module.activate_throwing_error_handler();
  const rand = mulberry32(options.seed);
  const { defect } = options;
  let layers = backboneFor(model).layers;
  if (options.upTo !== undefined) {
    const end = layers.findIndex((l) => l.name === options.upTo);
    if (end < 0) throw new Error(`unknown ${model} layer ${options.upTo}`);
    layers = layers.slice(0, end + 1);
  }
  if (defect?.kind === "missingLayer") layers = layers.filter((l) => l.name !== defect.layer);

  const written: WrittenWeights = new Map();
  const h5 = new h5wasm.File(path.resolve(file), "w");
  try {
    if (defect?.kind !== "noLayerNames") {
      h5.create_attribute("layer_names", ["input_1", ...layers.map((l) => l.name)]);
    }
    h5.create_attribute("backend", "tensorflow");
    h5.create_attribute("keras_version", "2.0.0");
    h5.create_group("input_1").create_attribute("weight_names", []);
    for (const layer of layers) {
      const group = h5.create_group(layer.name);
      if (layer.kind === "pool") {
        group.create_attribute("weight_names", []);
        continue;
      }
      const { name, inChannels, outChannels } = layer;
      const hit = defect && "layer" in defect && defect.layer === name ? defect.kind : null;
      const shape = hit === "wrongShape" && defect?.kind === "wrongShape" ? defect.shape : [3, 3, inChannels, outChannels];
      const kernel = normals(shape.reduce((a, b) => a * b, 1), Math.sqrt(2 / (9 * inChannels)), rand);
      const bias = normals(outChannels, 0.01, rand);
      if (hit === "nonFinite") bias[0] = Number.NaN;
      const suffix = options.weightSuffix ?? "_1:0";
      group.create_attribute("weight_names", [`${name}_W${suffix}`, `${name}_b${suffix}`]);
      group.create_dataset({
        name: `${name}_W${suffix}`,
        data: hit === "wrongDtype" ? Float64Array.from(kernel) : kernel,
        shape,
        dtype: hit === "wrongDtype" ? "<d" : "<f",
      });
      group.create_dataset({ name: `${name}_b${suffix}`, data: bias, shape: [outChannels], dtype: "<f" });
      written.set(name, { kernel, bias });
    }
  } finally {
    h5.close();
  }
  return written;
}

/** Copies the first `bytes` bytes of `src` to `dest`, like an interrupted download. */
export async function writeTruncatedCopy(src: string, dest: string, bytes: number): Promise<void> {
  await writeFile(dest, (await readFile(src)).subarray(0, bytes));
}
