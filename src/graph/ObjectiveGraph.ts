import { GraphBuilder, type FloatType } from "./GraphBuilder.js";
import { VggGraph, type Activation } from "./VggGraph.js";
import { contentTerm, gram, inverseEnergy, maskedStyleTerm, styleTerm, totalVariationTerm, type Term } from "./LossTerms.js";
import { regionKey, type LayerWeight, type ObjectiveSpec, type Pooling } from "./ObjectiveSpec.js";
import { layersThrough, vggLayers, type ModelName } from "../model/VggArchitecture.js";
import type { VggWeights } from "../weights/VggWeights.js";

export const IMAGE_INPUT = "image";
export const contentInput = (layer: string) => `content:${layer}`;
export const gramInput = (key: string) => `gram:${key}`;
export const maskInput = (key: string) => `mask:${key}`;

/** Shapes of the target inputs an objective graph expects, keyed as in ObjectiveTargets. */
export interface TargetShapes {
  readonly content: ReadonlyMap<string, readonly number[]>;
  readonly grams: ReadonlyMap<string, readonly number[]>;
  readonly masks: ReadonlyMap<string, readonly number[]>;
}

export interface CompiledGraph {
  readonly bytes: Uint8Array;
  readonly targetShapes: TargetShapes;
}

/**
 * One ONNX model whose single run gives the total loss, its three weighted terms and d loss / d image.
 * Inputs: `image` [1,3,H,W] and the targets (`content:<layer>` [1,C,h,w], `gram:<layer>` [C,C]).
 * Outputs: `loss`, `content`, `style`, `tv` (scalars) and `grad` [1,3,H,W].
 */
export function buildObjectiveGraph(spec: ObjectiveSpec, weights: VggWeights, floatType: FloatType = "float32"): CompiledGraph {
  const g = new GraphBuilder(floatType);
  const { height: H, width: W } = spec;
  const image = g.input(IMAGE_INPUT, [1, 3, H, W]);
  const vgg = new VggGraph(g, weights, spec.pooling);
  const acts = vgg.forward(image, H, W, deepestLayer(spec.model, [...spec.contentLayers, ...spec.styleLayers]));

  const layerGrads = new Map<string, string>();
  const addGrad = (layer: string, grad: string) => {
    const prev = layerGrads.get(layer);
    layerGrads.set(layer, prev ? g.op("Add", [prev, grad]) : grad);
  };
  const content = new Map<string, readonly number[]>();
  const grams = new Map<string, readonly number[]>();

  const contentValues = relativeWeights(spec.contentLayers).map(({ layer, weight }) => {
    const a = activation(acts, layer);
    const shape = [1, a.channels, a.height, a.width];
    content.set(layer, shape);
    const target = g.input(contentInput(layer), shape);
    const term = contentTerm(g, a, target, contentScale(g, spec, target, spec.contentWeight * weight));
    addGrad(layer, term.grad);
    return term.value;
  });
  const masks = new Map<string, readonly number[]>();
  const styleValues = relativeWeights(spec.styleLayers).flatMap(({ layer, weight }) => {
    const a = activation(acts, layer);
    const gramShape = [a.channels, a.channels];
    const terms: Term[] = [];
    if (!spec.styleRegions) {
      grams.set(layer, gramShape);
      const target = g.input(gramInput(layer), gramShape);
      terms.push(styleTerm(g, a, target, styleScale(g, spec, a, target, spec.styleWeight * weight)));
    }
    for (let r = 0; r < (spec.styleRegions ?? 0); r++) {
      const key = regionKey(r, layer);
      const maskShape = [1, 1, a.height, a.width];
      grams.set(key, gramShape);
      masks.set(key, maskShape);
      const mask = g.input(maskInput(key), maskShape);
      const target = g.input(gramInput(key), gramShape);
      terms.push(maskedStyleTerm(g, a, mask, target, regionScale(g, spec, a, mask, target, spec.styleWeight * weight)));
    }
    for (const term of terms) addGrad(layer, term.grad);
    return terms.map((t) => t.value);
  });
  const tvTerms = spec.normalization === "balanced" ? 3 * (H - 1) * (W - 1) : 1;
  const tv = totalVariationTerm(g, image, H, W, spec.tvPower, spec.tvWeight / tvTerms);

  const sum = (values: string[]) => (values.length ? values.reduce((acc, v) => g.op("Add", [acc, v])) : g.scalar(0));
  const contentLoss = sum(contentValues);
  const styleLoss = sum(styleValues);
  g.output("content", contentLoss, []);
  g.output("style", styleLoss, []);
  g.output("tv", tv.value, []);
  g.output("loss", sum([contentLoss, styleLoss, tv.value]), []);
  g.output("grad", g.op("Add", [vgg.backward(layerGrads), tv.grad]), [1, 3, H, W]);
  return { bytes: g.toBytes(), targetShapes: { content, grams, masks } };
}

/**
 * Forward-only model that computes an image's targets: `content:<layer>` features and `gram:<layer>`
 * Gram matrices. Run once per input image; its outputs feed the objective graph.
 */
export function buildTargetGraph(
  model: ModelName,
  weights: VggWeights,
  pooling: Pooling,
  height: number,
  width: number,
  layers: { content: readonly string[]; style: readonly string[] },
): Uint8Array {
  const g = new GraphBuilder("float32");
  const image = g.input(IMAGE_INPUT, [1, 3, height, width]);
  const acts = new VggGraph(g, weights, pooling).forward(image, height, width, deepestLayer(model, [...layers.content, ...layers.style].map((layer) => ({ layer, weight: 1 }))));
  for (const layer of layers.content) {
    const a = activation(acts, layer);
    g.output(contentInput(layer), a.tensor, [1, a.channels, a.height, a.width]);
  }
  for (const layer of layers.style) {
    const a = activation(acts, layer);
    g.output(gramInput(layer), gram(g, a).gram, [a.channels, a.channels]);
  }
  return g.toBytes();
}

/** The deepest of the given layers in network order: nothing past it is computed. */
export function deepestLayer(model: ModelName, layers: readonly LayerWeight[]): string {
  const order = vggLayers(model).map((l) => l.name);
  let deepest = -1;
  for (const { layer } of layers) {
    layersThrough(model, layer); // rejects unknown names with the list of known ones
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

/** Layer weights divided by their sum, so a term is the weighted mean over its layers. */
function relativeWeights(layers: readonly LayerWeight[]): LayerWeight[] {
  const total = layers.reduce((s, l) => s + l.weight, 0);
  return layers.map((l) => ({ layer: l.layer, weight: l.weight / total }));
}

function contentScale(g: GraphBuilder, spec: ObjectiveSpec, target: string, weight: number): string {
  if (spec.normalization === "balanced") return g.op("Mul", [inverseEnergy(g, target), g.scalar(weight)]);
  return g.scalar(spec.normalization === "seed" ? weight : 0.5 * weight);
}

/** A masked region's style scale: in gatys mode its mask energy sum(m^2) replaces h*w (guarded for empty regions). */
function regionScale(g: GraphBuilder, spec: ObjectiveSpec, a: Activation, mask: string, target: string, weight: number): string {
  if (spec.normalization !== "gatys") return styleScale(g, spec, a, target, weight);
  const energy = g.op("Max", [g.op("ReduceSumSquare", [mask], { keepdims: 0 }), g.scalar(1e-6)]);
  return g.op("Div", [g.scalar(weight / (4 * a.channels ** 2)), g.op("Mul", [energy, energy])]);
}

function styleScale(g: GraphBuilder, spec: ObjectiveSpec, a: Activation, target: string, weight: number): string {
  if (spec.normalization === "balanced") return g.op("Mul", [inverseEnergy(g, target), g.scalar(weight)]);
  if (spec.normalization === "seed") return g.scalar(weight * (1 / (4 * 3 ** 2 * (spec.height * spec.width) ** 2)));
  return g.scalar(weight * (1 / (4 * a.channels ** 2 * (a.height * a.width) ** 2)));
}
