import { GraphBuilder, type FloatType, type NativeOps } from "../graph/GraphBuilder.js";
import { backboneFor, type Activation, type BackboneWeights, type ModelName } from "../backbone/Backbone.js";
import { activeTerms, termLayers } from "./LossTerms.js";
import type { LayerWeight, ObjectiveOptions, ObjectiveSpec } from "./ObjectiveSpec.js";
import type { FeatureGraph, ImageSize, TermGraph } from "./terms/LossTerm.js";

export const IMAGE_INPUT = "image";
export const LOSS_OUTPUT = "loss";
export const GRAD_OUTPUT = "grad";
/** The output carrying a term's weighted value. */
export const termOutput = (name: string) => `term:${name}`;

export interface CompiledGraph {
  readonly bytes: Uint8Array;
  /** The target inputs the graph expects (besides the image), with their shapes. */
  readonly inputs: ReadonlyMap<string, readonly number[]>;
  /** Names of its terms, in order; each is an output `term:<name>`. */
  readonly terms: readonly string[];
}

/**
 * One ONNX model whose single run gives the total loss, each term's weighted value and
 * d loss / d image. Inputs: `image` [1,3,H,W] and each term's targets. Outputs: `loss`,
 * `term:<name>` (scalars) and `grad` [1,3,H,W].
 */
export function buildObjectiveGraph(spec: ObjectiveSpec, weights: BackboneWeights, floatType: FloatType, nativeOps: NativeOps): CompiledGraph {
  const g = new GraphBuilder(floatType, nativeOps);
  const { height: H, width: W } = spec;
  const image = g.input(IMAGE_INPUT, [1, 3, H, W]);
  const vgg = backboneFor(spec.model).graph(g, weights, spec.pooling);
  const acts = vgg.forward(image, H, W, deepestLayer(spec.model, termLayers(spec)));

  const inputs = new Map<string, readonly number[]>();
  const layerGrads = new Map<string, string>();
  const imageGrads: string[] = [];
  const t: TermGraph = {
    g,
    image,
    activation: (layer) => activation(acts, layer),
    input: (name, dims) => {
      if (inputs.has(name)) throw new Error(`two terms declare the input ${name}`);
      inputs.set(name, dims);
      return g.input(name, dims);
    },
    addLayerGradient: (layer, grad) => {
      const prev = layerGrads.get(layer);
      layerGrads.set(layer, prev ? g.op("Add", [prev, grad]) : grad);
    },
    addImageGradient: (grad) => imageGrads.push(grad),
  };
  const terms = activeTerms(spec).map((term) => ({ name: term.name, value: term.build(t, spec) }));

  for (const { name, value } of terms) g.output(termOutput(name), value, []);
  g.output(LOSS_OUTPUT, terms.map((v) => v.value).reduce((acc, v) => g.op("Add", [acc, v])), []);
  const grad = imageGrads.reduce((acc, v) => g.op("Add", [acc, v]), vgg.backward(layerGrads));
  g.output(GRAD_OUTPUT, grad, [1, 3, H, W]);
  return { bytes: g.toBytes(), inputs, terms: terms.map((v) => v.name) };
}

/** A forward-only model giving the features the objective's terms need from a target image of `size`. */
export interface TargetGraph {
  readonly bytes: Uint8Array;
  /** Its outputs, named as the terms declared them. */
  readonly features: readonly string[];
}

export function buildTargetGraph(options: ObjectiveOptions, weights: BackboneWeights, size: ImageSize, nativeOps: NativeOps): TargetGraph {
  const g = new GraphBuilder("float32", nativeOps);
  const image = g.input(IMAGE_INPUT, [1, 3, size.height, size.width]);
  const acts = backboneFor(options.model).graph(g, weights, options.pooling).forward(image, size.height, size.width, deepestLayer(options.model, termLayers(options)));
  const features: string[] = [];
  const f: FeatureGraph = {
    g,
    activation: (layer) => activation(acts, layer),
    feature: (name, compute) => {
      if (features.includes(name)) return;
      const { tensor, dims } = compute();
      g.output(name, tensor, dims);
      features.push(name);
    },
  };
  for (const term of activeTerms(options)) term.features?.(f, options);
  return { bytes: g.toBytes(), features };
}

/** The deepest of the given layers in network order: nothing past it is computed. */
export function deepestLayer(model: ModelName, layers: readonly LayerWeight[]): string {
  const backbone = backboneFor(model);
  const order = backbone.layers.map((l) => l.name);
  let deepest = -1;
  for (const { layer } of layers) {
    backbone.layersThrough(layer); // rejects unknown names with the list of known ones
    deepest = Math.max(deepest, order.indexOf(layer));
  }
  if (deepest < 0) throw new Error("an objective needs at least one content or style layer");
  return order[deepest];
}

function activation(acts: ReadonlyMap<string, Activation>, layer: string): Activation {
  const a = acts.get(layer);
  if (!a) throw new Error(`layer ${layer} was not computed`);
  return a;
}
