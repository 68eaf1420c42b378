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

/** Where a window's graph learns which of its positions it owns: `own:<layer>`, or `own:image`. */
export const ownedInput = (layer: string | undefined) => `own:${layer ?? "image"}`;
/** The input carrying the whole image's value of a `TermGraph.whole` sum, and a first pass's output of a window's share. */
export const wholeInput = (name: string) => `whole:${name}`;
/** 1 in exactly one window of a tiled evaluation, 0 in the others (`TermGraph.once`). */
export const FIRST_INPUT = "first";

/**
 * What a graph sees: the whole image; one window of a larger image (objective/Tiles), given the
 * whole image's sums; or one window computing its share of those sums (the first pass).
 */
export type GraphView = { readonly kind: "whole" } | { readonly kind: "window" | "window-sums"; readonly size: ImageSize };
const WHOLE: GraphView = { kind: "whole" };

export interface CompiledGraph {
  readonly bytes: Uint8Array;
  /** The target inputs the graph expects (besides the image), with their shapes as fed. */
  readonly inputs: ReadonlyMap<string, readonly number[]>;
  /** Those of them that are maps over a layer's positions (cut to the window's part when tiled). */
  readonly layerInputs: ReadonlyMap<string, { readonly layer: string; readonly channels: number }>;
  /** A window's ownership maps it reads: layer, or undefined for the image's own positions. */
  readonly owned: readonly (string | undefined)[];
  /** The whole-image sums (`TermGraph.whole`) by name with their shapes: inputs of a window, outputs of its first pass. */
  readonly sums: ReadonlyMap<string, readonly number[]>;
  /** Names of its terms, in order; each is an output `term:<name>`. */
  readonly terms: readonly string[];
}

/**
 * One ONNX model whose single run gives the total loss, each term's weighted value and
 * d loss / d image. Inputs: `image` [1,3,H,W] and each term's targets. Outputs: `loss`,
 * `term:<name>` (scalars) and `grad` [1,3,H,W]. Seen through a window, the values and gradient are
 * that window's share; its first pass (`window-sums`) outputs only its share of the whole sums.
 */
export function buildObjectiveGraph(spec: ObjectiveSpec, weights: BackboneWeights, floatType: FloatType, nativeOps: NativeOps, view: GraphView = WHOLE): CompiledGraph {
  const g = new GraphBuilder(floatType, nativeOps);
  const { height: H, width: W } = view.kind === "whole" ? spec : view.size;
  const image = g.input(IMAGE_INPUT, [1, 3, H, W]);
  const vgg = backboneFor(spec.model).graph(g, weights, spec.pooling);
  const acts = vgg.forward(image, H, W, deepestLayer(spec.model, termLayers(spec)));
  const windowed = view.kind !== "whole";

  const inputs = new Map<string, readonly number[]>();
  const layerInputs = new Map<string, { layer: string; channels: number }>();
  const sums = new Map<string, readonly number[]>();
  const owners = new Map<string | undefined, string>();
  const declare = (name: string, dims: readonly number[]) => {
    if (inputs.has(name)) throw new Error(`two terms declare the input ${name}`);
    inputs.set(name, dims);
    return g.input(name, dims);
  };
  // A window's 0/1 map of the positions it owns at a layer (or the image), read once.
  const owner = (layer: string | undefined) => {
    let mask = owners.get(layer);
    if (!mask) {
      const a = layer === undefined ? { height: H, width: W } : activation(acts, layer);
      mask = g.input(ownedInput(layer), [1, 1, a.height, a.width]);
      owners.set(layer, mask);
    }
    return mask;
  };
  const ownedOnly = (tensor: string, layer: string | undefined) => (windowed ? g.op("Mul", [tensor, owner(layer)]) : tensor);
  const seen = new Map<string, Activation>();
  const first = windowed ? g.input(FIRST_INPUT, []) : undefined;

  const layerGrads = new Map<string, string>();
  const imageGrads: string[] = [];
  const t: TermGraph = {
    g,
    image: { tensor: image, channels: 3, height: H, width: W },
    activation: (layer) => {
      let a = seen.get(layer);
      if (!a) {
        const raw = activation(acts, layer);
        a = { ...raw, tensor: ownedOnly(raw.tensor, layer) };
        seen.set(layer, a);
      }
      return a;
    },
    input: declare,
    layerInput: (name, channels, layer) => {
      const a = activation(acts, layer);
      layerInputs.set(name, { layer, channels });
      return ownedOnly(declare(name, [1, channels, a.height, a.width]), layer);
    },
    whole: (name, dims, compute) => {
      if (sums.has(name)) throw new Error(`two terms declare the sum ${name}`);
      sums.set(name, dims);
      if (view.kind === "window") return g.input(wholeInput(name), dims);
      const value = compute();
      if (view.kind === "window-sums") g.output(wholeInput(name), value, dims);
      return value;
    },
    once: (value) => (first ? g.op("Mul", [value, first]) : value),
    ownedPixels: (height, width) =>
      windowed ? g.op("Slice", [owner(undefined), g.ints([0, 0]), g.ints([height, width]), g.ints([2, 3])]) : undefined,
    addLayerGradient: (layer, grad) => {
      const prev = layerGrads.get(layer);
      layerGrads.set(layer, prev ? g.op("Add", [prev, grad]) : grad);
    },
    addImageGradient: (grad) => imageGrads.push(grad),
  };
  const terms = activeTerms(spec).map((term) => ({ name: term.name, value: term.build(t, spec) }));

  if (view.kind !== "window-sums") {
    for (const { name, value } of terms) g.output(termOutput(name), value, []);
    g.output(LOSS_OUTPUT, terms.map((v) => v.value).reduce((acc, v) => g.op("Add", [acc, v])), []);
    // d/dF of what a window's terms saw (F masked to its own positions) is their gradient masked again.
    const owned = new Map([...layerGrads].map(([layer, grad]) => [layer, ownedOnly(grad, layer)]));
    const grad = imageGrads.reduce((acc, v) => g.op("Add", [acc, v]), vgg.backward(owned));
    g.output(GRAD_OUTPUT, grad, [1, 3, H, W]);
  }
  const used = new Set(g.usedInputs());
  return {
    bytes: g.toBytes(),
    inputs: new Map([...inputs].filter(([name]) => used.has(name))),
    layerInputs: new Map([...layerInputs].filter(([name]) => used.has(name))),
    owned: [...owners.keys()].filter((layer) => used.has(ownedInput(layer))),
    sums,
    terms: terms.map((v) => v.name),
  };
}

/** A forward-only model giving the features the objective's terms need from a target image of `size`. */
export interface TargetGraph {
  readonly bytes: Uint8Array;
  /** Its outputs, named as the terms declared them; maps over a layer's positions name it. */
  readonly features: ReadonlyMap<string, { readonly dims: readonly number[]; readonly layer?: string }>;
  /** Seen through a window: the ownership maps it reads (see `CompiledGraph.owned`). */
  readonly owned: readonly string[];
}

/**
 * The target graph of an image of `size`, or of a `window` of it: then each feature is the window's
 * share (sums over the positions it owns; maps zero elsewhere), so adding every window's share
 * (maps placed where the window sits) gives the whole image's.
 */
export function buildTargetGraph(options: ObjectiveOptions, weights: BackboneWeights, size: ImageSize, nativeOps: NativeOps, window?: ImageSize): TargetGraph {
  const g = new GraphBuilder("float32", nativeOps);
  const seenSize = window ?? size;
  const image = g.input(IMAGE_INPUT, [1, 3, seenSize.height, seenSize.width]);
  const acts = backboneFor(options.model).graph(g, weights, options.pooling).forward(image, seenSize.height, seenSize.width, deepestLayer(options.model, termLayers(options)));
  const features = new Map<string, { dims: readonly number[]; layer?: string }>();
  const seen = new Map<string, Activation>();
  const f: FeatureGraph = {
    g,
    activation: (layer) => {
      const a = activation(acts, layer);
      if (!window) return a;
      let masked = seen.get(layer);
      if (!masked) {
        masked = { ...a, tensor: g.op("Mul", [a.tensor, g.input(ownedInput(layer), [1, 1, a.height, a.width])]) };
        seen.set(layer, masked);
      }
      return masked;
    },
    feature: (name, compute) => {
      if (features.has(name)) return;
      const { tensor, dims, layer } = compute();
      g.output(name, tensor, dims);
      features.set(name, { dims, layer });
    },
  };
  for (const term of activeTerms(options)) term.features?.(f, options);
  return { bytes: g.toBytes(), features, owned: [...seen.keys()] };
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
