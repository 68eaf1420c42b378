/**
 * Independent reference for the objective graph: the same objective written directly in
 * TensorFlow.js (CPU backend) with its own autodiff, so the ONNX graph's hand-built forward and
 * gradient can be checked against something that shares none of its code.
 */
import * as tf from "@tensorflow/tfjs";
import type { LayerWeight, ObjectiveSpec } from "../../src/objective/ObjectiveSpec.js";
import { backboneFor, type BackboneWeights } from "../../src/backbone/Backbone.js";

/** Content features [1,C,h,w] and style Gram matrices [C,C], by layer. */
export interface ReferenceTargets {
  readonly content: ReadonlyMap<string, Float32Array>;
  readonly grams: ReadonlyMap<string, Float32Array>;
}

/** The loss, its three weighted terms (they sum to the loss) and d loss / d image. */
export interface ReferenceEvaluation {
  readonly loss: number;
  readonly content: number;
  readonly style: number;
  readonly tv: number;
  readonly grad: Float32Array;
}

let backendReady: Promise<boolean> | undefined;

async function useCpu(): Promise<void> {
  // The node build of tfjs would otherwise probe for WebGL; the CPU kernels are the reference.
  backendReady ??= tf.setBackend("cpu");
  if (!(await backendReady)) throw new Error("tfjs CPU backend failed to initialise");
}

/** Activations (NHWC) at `wanted`, running VGG only as deep as the deepest wanted layer. */
function features(spec: ObjectiveSpec, weights: BackboneWeights, x: tf.Tensor4D, wanted: ReadonlySet<string>): Map<string, tf.Tensor4D> {
  const out = new Map<string, tf.Tensor4D>();
  let h = x;
  for (const layer of backboneFor(spec.model).layers) {
    if (out.size === wanted.size) break;
    if (layer.kind === "pool") {
      h = spec.pooling === "max" ? tf.maxPool(h, 2, 2, "valid") : tf.avgPool(h, 2, 2, "valid");
      continue;
    }
    const p = weights.layers.get(layer.name);
    if (!p) throw new Error(`weights lack ${layer.name}`);
    if (p.inChannels !== layer.inChannels || p.outChannels !== layer.outChannels) {
      throw new Error(`${layer.name}: weights are ${p.inChannels}->${p.outChannels}, VGG has ${layer.inChannels}->${layer.outChannels}`);
    }
    const kernel = tf.tensor4d(p.kernel, [3, 3, p.inChannels, p.outChannels]);
    const bias = tf.tensor1d(p.bias);
    h = tf.relu(tf.add<tf.Tensor4D>(tf.conv2d(h, kernel, 1, "same"), bias));
    if (wanted.has(layer.name)) out.set(layer.name, h);
  }
  for (const name of wanted) if (!out.has(name)) throw new Error(`${spec.model} has no conv layer ${name}`);
  return out;
}

/** G = F_flat F_flat^T with F_flat C x (h*w); unnormalised, the loss scales it. */
function gram(f: tf.Tensor4D): tf.Tensor2D {
  const flat = tf.reshape(f, [-1, f.shape[3]]) as tf.Tensor2D;
  return tf.matMul(flat, flat, true, false);
}

function nchwToNhwc(image: Float32Array, spec: ObjectiveSpec): tf.Tensor4D {
  const expected = 3 * spec.height * spec.width;
  if (image.length !== expected) throw new Error(`image has ${image.length} values, spec needs ${expected}`);
  return tf.transpose(tf.tensor4d(image, [1, 3, spec.height, spec.width]), [0, 2, 3, 1]);
}

function layerNames(layers: readonly LayerWeight[]): Set<string> {
  return new Set(layers.map((l) => l.layer));
}

/** Content features [1,C,h,w] (NCHW, flattened) and Gram matrices [C,C] of `image` at the spec's layers. */
export async function tfjsTargets(
  spec: ObjectiveSpec,
  weights: BackboneWeights,
  contentImage: Float32Array,
  styleImage: Float32Array,
): Promise<ReferenceTargets> {
  await useCpu();
  const content = new Map<string, Float32Array>();
  const grams = new Map<string, Float32Array>();
  tf.tidy(() => {
    const cf = features(spec, weights, nchwToNhwc(contentImage, spec), layerNames(spec.contentLayers));
    for (const [name, f] of cf) content.set(name, tf.transpose(f, [0, 3, 1, 2]).dataSync() as Float32Array);
    const sf = features(spec, weights, nchwToNhwc(styleImage, spec), layerNames(spec.styleLayers));
    for (const [name, f] of sf) grams.set(name, gram(f).dataSync() as Float32Array);
  });
  return { content, grams };
}

/** sum_l w_l term_l / sum_l w_l; an empty layer list contributes nothing rather than 0/0. */
function weightedMean(layers: readonly LayerWeight[], term: (layer: string) => tf.Scalar): tf.Scalar {
  if (layers.length === 0) return tf.scalar(0);
  const total = layers.reduce((s, l) => s + l.weight, 0);
  return tf.div(tf.addN(layers.map((l) => tf.mul(term(l.layer), l.weight))), total);
}

function target(map: ReadonlyMap<string, Float32Array>, name: string, shape: number[]): tf.Tensor {
  const t = map.get(name);
  if (!t) throw new Error(`targets lack ${name}`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (t.length !== size) throw new Error(`target ${name} has ${t.length} values, expected ${size}`);
  return tf.tensor(t, shape);
}

function totalVariation(x: tf.Tensor4D, power: number): tf.Scalar {
  const [, H, W] = x.shape;
  const corner = tf.slice(x, [0, 0, 0, 0], [1, H - 1, W - 1, 3]);
  const down = tf.sub(corner, tf.slice(x, [0, 1, 0, 0], [1, H - 1, W - 1, 3]));
  const right = tf.sub(corner, tf.slice(x, [0, 0, 1, 0], [1, H - 1, W - 1, 3]));
  return tf.sum(tf.pow(tf.add(tf.square(down), tf.square(right)), power));
}

/** Loss terms and d loss / d image (NCHW, flattened) of `image` against `targets`. */
export async function tfjsEvaluate(
  spec: ObjectiveSpec,
  weights: BackboneWeights,
  targets: ReferenceTargets,
  image: Float32Array,
): Promise<ReferenceEvaluation> {
  await useCpu();
  const pixels = spec.height * spec.width;
  let terms = { content: 0, style: 0, tv: 0 };
  const objective = (xNchw: tf.Tensor): tf.Scalar => {
    const x = tf.transpose(xNchw, [0, 2, 3, 1]) as tf.Tensor4D;
    const feats = features(spec, weights, x, new Set([...layerNames(spec.contentLayers), ...layerNames(spec.styleLayers)]));
    const act = (name: string): tf.Tensor4D => feats.get(name) as tf.Tensor4D;
    const contentLoss = weightedMean(spec.contentLayers, (name) => {
      const f = act(name);
      const [, h, w, c] = f.shape;
      const p = target(targets.content, name, [1, c, h, w]);
      const sq = tf.sum<tf.Scalar>(tf.square(tf.sub(tf.transpose(f, [0, 3, 1, 2]), p)));
      if (spec.normalization === "balanced") return tf.div<tf.Scalar>(sq, tf.sum(tf.square(p)));
      return spec.normalization === "gatys" ? tf.mul<tf.Scalar>(sq, 0.5) : sq;
    });
    const styleLoss = weightedMean(spec.styleLayers, (name) => {
      const f = act(name);
      const [, h, w, c] = f.shape;
      const a = target(targets.grams, name, [c, c]);
      const sq = tf.sum(tf.square(tf.sub(gram(f), a)));
      if (spec.normalization === "balanced") return tf.div(sq, tf.sum(tf.square(a)));
      const denom = spec.normalization === "gatys" ? 4 * c * c * (h * w) ** 2 : 4 * 9 * pixels ** 2;
      return tf.div(sq, denom);
    });
    const content = tf.mul(contentLoss, spec.contentWeight);
    const style = tf.mul(styleLoss, spec.styleWeight);
    const tvTerms = spec.normalization === "balanced" ? 3 * (spec.height - 1) * (spec.width - 1) : 1;
    const tv = tf.mul(totalVariation(x, spec.tvPower), spec.tvWeight / tvTerms);
    // Read inside the taped function: its intermediates are disposed once it returns.
    terms = { content: content.dataSync()[0], style: style.dataSync()[0], tv: tv.dataSync()[0] };
    return tf.addN([content, style, tv]) as tf.Scalar;
  };
  let loss = 0;
  let grad: Float32Array = new Float32Array();
  tf.tidy(() => {
    const x = tf.tensor4d(image, [1, 3, spec.height, spec.width]);
    const result = tf.valueAndGrad(objective)(x);
    loss = result.value.dataSync()[0];
    grad = result.grad.dataSync() as Float32Array;
  });
  return { loss, ...terms, grad };
}
