/**
 * Checks the TensorFlow.js reference objective itself, against plain float64 JavaScript written
 * here from the formulas in ObjectiveSpec.ts, so that the reference can be trusted when it is used
 * to judge the ONNX graph.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { LayerWeight, ObjectiveSpec } from "../src/objective/ObjectiveSpec.js";
import { backboneFor, type BackboneWeights, type ConvParams } from "../src/backbone/Backbone.js";
import { tfjsEvaluate, tfjsTargets, type ReferenceTargets } from "./reference/TfjsObjective.js";
import { mulberry32 } from "../src/util/Random.js";
import { randomImage as randomImageOf, randomVggWeights } from "./helpers/randomWeights.js";

const H = 12;
const W = 16;
const randomWeights = (seed: number, upTo: string) => randomVggWeights("vgg16", seed, upTo);
const randomImage = (seed: number) => randomImageOf(H, W, seed);

function makeSpec(overrides: Partial<ObjectiveSpec>): ObjectiveSpec {
  return {
    model: "vgg16",
    height: H,
    width: W,
    contentLayers: [],
    styleLayers: [],
    contentWeight: 1,
    styleWeight: 1,
    tvWeight: 0,
    tvPower: 1.25,
    normalization: "image",
    pooling: "max",
    ...overrides,
  };
}

// ---- plain float64 forward, activations HWC ----

interface Act {
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly data: Float64Array;
}

function conv64(a: Act, p: ConvParams): Act {
  const { h, w } = a;
  const ci = p.inChannels;
  const co = p.outChannels;
  const out = new Float64Array(h * w * co);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * co;
      for (let k = 0; k < co; k++) out[o + k] = p.bias[k];
      for (let ky = 0; ky < 3; ky++) {
        const yy = y + ky - 1;
        if (yy < 0 || yy >= h) continue;
        for (let kx = 0; kx < 3; kx++) {
          const xx = x + kx - 1;
          if (xx < 0 || xx >= w) continue;
          for (let i = 0; i < ci; i++) {
            const v = a.data[(yy * w + xx) * ci + i];
            const kBase = ((ky * 3 + kx) * ci + i) * co;
            for (let k = 0; k < co; k++) out[o + k] += v * p.kernel[kBase + k];
          }
        }
      }
      for (let k = 0; k < co; k++) out[o + k] = Math.max(0, out[o + k]);
    }
  }
  return { h, w, c: co, data: out };
}

function pool64(a: Act, kind: "max" | "avg"): Act {
  const h = Math.floor(a.h / 2);
  const w = Math.floor(a.w / 2);
  const out = new Float64Array(h * w * a.c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < a.c; k++) {
        const at = (dy: number, dx: number): number => a.data[((2 * y + dy) * a.w + 2 * x + dx) * a.c + k];
        const v = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
        out[(y * w + x) * a.c + k] = kind === "max" ? Math.max(...v) : (v[0] + v[1] + v[2] + v[3]) / 4;
      }
    }
  }
  return { h, w, c: a.c, data: out };
}

function forward64(spec: ObjectiveSpec, weights: BackboneWeights, imageNchw: ArrayLike<number>, wanted: ReadonlySet<string>): Map<string, Act> {
  const data = new Float64Array(H * W * 3);
  for (let c = 0; c < 3; c++) for (let p = 0; p < H * W; p++) data[p * 3 + c] = imageNchw[c * H * W + p];
  let a: Act = { h: H, w: W, c: 3, data };
  const out = new Map<string, Act>();
  for (const l of backboneFor(spec.model).layers) {
    if (out.size === wanted.size) break;
    if (l.kind === "pool") {
      a = pool64(a, spec.pooling);
    } else {
      a = conv64(a, weights.layers.get(l.name) as ConvParams);
      if (wanted.has(l.name)) out.set(l.name, a);
    }
  }
  return out;
}

function gram64(a: Act): Float64Array {
  const g = new Float64Array(a.c * a.c);
  for (let p = 0; p < a.h * a.w; p++) {
    for (let i = 0; i < a.c; i++) {
      const fi = a.data[p * a.c + i];
      if (fi === 0) continue;
      for (let j = 0; j < a.c; j++) g[i * a.c + j] += fi * a.data[p * a.c + j];
    }
  }
  return g;
}

/** Activations as NCHW, the layout of content targets. */
function toChw(a: Act): Float64Array {
  const out = new Float64Array(a.data.length);
  for (let p = 0; p < a.h * a.w; p++) for (let k = 0; k < a.c; k++) out[k * a.h * a.w + p] = a.data[p * a.c + k];
  return out;
}

function tv64(x: ArrayLike<number>, power: number): number {
  let sum = 0;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < H - 1; i++) {
      for (let j = 0; j < W - 1; j++) {
        const v = x[(c * H + i) * W + j];
        const down = v - x[(c * H + i + 1) * W + j];
        const right = v - x[(c * H + i) * W + j + 1];
        sum += (down * down + right * right) ** power;
      }
    }
  }
  return sum;
}

/** d tv64 / dx by the chain rule, each (i,j) term touching x[i,j], x[i+1,j], x[i,j+1]. */
function tvGrad64(x: ArrayLike<number>, power: number): Float64Array {
  const g = new Float64Array(3 * H * W);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < H - 1; i++) {
      for (let j = 0; j < W - 1; j++) {
        const at = (c * H + i) * W + j;
        const down = x[at] - x[at + W];
        const right = x[at] - x[at + 1];
        const t = power * (down * down + right * right) ** (power - 1);
        g[at] += 2 * t * (down + right);
        g[at + W] -= 2 * t * down;
        g[at + 1] -= 2 * t * right;
      }
    }
  }
  return g;
}

interface Terms {
  readonly loss: number;
  readonly content: number;
  readonly style: number;
  readonly tv: number;
}

function mean64(layers: readonly LayerWeight[], term: (layer: string) => number): number {
  if (layers.length === 0) return 0;
  let num = 0;
  let den = 0;
  for (const l of layers) {
    num += l.weight * term(l.layer);
    den += l.weight;
  }
  return num / den;
}

function objective64(spec: ObjectiveSpec, weights: BackboneWeights, targets: ReferenceTargets, x: ArrayLike<number>): Terms {
  const names = new Set([...spec.contentLayers, ...spec.styleLayers].map((l) => l.layer));
  const feats = forward64(spec, weights, x, names);
  const gatys = spec.normalization === "gatys";
  const contentLoss = mean64(spec.contentLayers, (name) => {
    const f = toChw(feats.get(name) as Act);
    const p = targets.content.get(name) as Float32Array;
    let s = 0;
    for (let i = 0; i < f.length; i++) s += (f[i] - p[i]) ** 2;
    return gatys ? 0.5 * s : s;
  });
  const styleLoss = mean64(spec.styleLayers, (name) => {
    const a = feats.get(name) as Act;
    const g = gram64(a);
    const t = targets.grams.get(name) as Float32Array;
    let s = 0;
    for (let i = 0; i < g.length; i++) s += (g[i] - t[i]) ** 2;
    return s / (gatys ? 4 * a.c ** 2 * (a.h * a.w) ** 2 : 4 * 9 * (H * W) ** 2);
  });
  const content = spec.contentWeight * contentLoss;
  const style = spec.styleWeight * styleLoss;
  const tv = spec.tvWeight * tv64(x, spec.tvPower);
  return { loss: content + style + tv, content, style, tv };
}

// ---- comparisons ----

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Max elementwise difference relative to the larger array's magnitude. */
function assertArraysClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(maxAbs(expected), 1e-30);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (d > worst) [worst, at] = [d, i];
  }
  assert.ok(worst <= rel * scale, `${what}: |diff| ${worst} at ${at} (${actual[at]} vs ${expected[at]}) > ${rel} * ${scale}`);
}

function assertClose(actual: number, expected: number, rel: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} vs ${expected} (rel ${rel})`);
}

const weights = randomWeights(1, "block2_conv2");
const contentImage = randomImage(2);
const styleImage = randomImage(3);
const image = randomImage(4);

/**
 * Float32 autodiff against float64 central differences at a few coordinates, always including
 * the largest gradient entry so that a wrong scale cannot hide among near-zero entries.
 */
async function checkGradient(spec: ObjectiveSpec, seed: number): Promise<void> {
  const targets = await tfjsTargets(spec, weights, contentImage, styleImage);
  const ev = await tfjsEvaluate(spec, weights, targets, image);
  const x = Float64Array.from(image);
  const direct = objective64(spec, weights, targets, x);
  assertClose(ev.loss, direct.loss, 1e-4, "loss vs float64 forward");
  assertClose(ev.content + ev.style + ev.tv, ev.loss, 1e-5, "terms sum to loss");

  const scale = maxAbs(ev.grad);
  assert.ok(scale > 0, "gradient is not all zero");
  const rand = mulberry32(seed);
  let largest = 0;
  for (let i = 1; i < ev.grad.length; i++) if (Math.abs(ev.grad[i]) > Math.abs(ev.grad[largest])) largest = i;
  const coords = [largest];
  while (coords.length < 5) coords.push(Math.floor(rand() * x.length));
  const step = 1e-3;
  for (const i of coords) {
    const orig = x[i];
    x[i] = orig + step;
    const plus = objective64(spec, weights, targets, x).loss;
    x[i] = orig - step;
    const minus = objective64(spec, weights, targets, x).loss;
    x[i] = orig;
    const fd = (plus - minus) / (2 * step);
    const err = Math.abs(ev.grad[i] - fd);
    assert.ok(err <= 1e-4 * Math.abs(fd) + 1e-5 * scale, `grad[${i}]: autodiff ${ev.grad[i]} vs finite difference ${fd}`);
  }
}

describe("tfjs reference objective", () => {
  test("(a) total variation term and its gradient match a plain loop and the hand-derived gradient", async () => {
    for (const tvPower of [1.25, 1]) {
      const spec = makeSpec({ tvWeight: 0.7, tvPower });
      const ev = await tfjsEvaluate(spec, weights, { content: new Map(), grams: new Map() }, image);
      assertClose(ev.tv, 0.7 * tv64(image, tvPower), 1e-5, `tv (power ${tvPower})`);
      assert.equal(ev.content, 0);
      assert.equal(ev.style, 0);
      assertClose(ev.loss, ev.tv, 1e-6, "loss is the tv term alone");
      assertArraysClose(ev.grad, tvGrad64(image, tvPower).map((g) => 0.7 * g), 1e-5, `tv gradient (power ${tvPower})`);
    }
  });

  test("(b) block1_conv1 content features (NCHW) and Gram match plain conv + ReLU + Gram", async () => {
    const spec = makeSpec({ contentLayers: [{ layer: "block1_conv1", weight: 1 }], styleLayers: [{ layer: "block1_conv1", weight: 1 }] });
    const targets = await tfjsTargets(spec, weights, contentImage, styleImage);
    const only = new Set(["block1_conv1"]);
    const content = forward64(spec, weights, contentImage, only).get("block1_conv1") as Act;
    const style = forward64(spec, weights, styleImage, only).get("block1_conv1") as Act;
    assertArraysClose(targets.content.get("block1_conv1") as Float32Array, toChw(content), 1e-5, "content features");
    assertArraysClose(targets.grams.get("block1_conv1") as Float32Array, gram64(style), 1e-5, "Gram");
  });

  test("(c) gradient matches float64 finite differences at block1_conv2 (content, style, both)", async () => {
    const at = [{ layer: "block1_conv2", weight: 1 }];
    await checkGradient(makeSpec({ contentLayers: at, styleWeight: 0 }), 10);
    await checkGradient(makeSpec({ styleLayers: at, contentWeight: 0 }), 11);
    await checkGradient(makeSpec({ contentLayers: at, styleLayers: at, contentWeight: 0.3, styleWeight: 1, tvWeight: 0.1 }), 12);
  });

  for (const pooling of ["max", "avg"] as const) {
    test(`(c) gradient matches float64 finite differences through ${pooling} pooling at block2_conv1`, async () => {
      const at = [{ layer: "block2_conv1", weight: 1 }];
      await checkGradient(makeSpec({ pooling, contentLayers: at, styleWeight: 0 }), 20);
      await checkGradient(makeSpec({ pooling, styleLayers: at, contentWeight: 0 }), 21);
    });
  }

  test("(d) both normalisations: values, their ratio, and gradients with weighted layer averages", async () => {
    const layers = { styleWeight: 50, contentLayers: [{ layer: "block1_conv2", weight: 1 }], styleLayers: [{ layer: "block1_conv1", weight: 1 }, { layer: "block2_conv1", weight: 3 }] };
    const byImage = makeSpec({ ...layers, normalization: "image" });
    const gatys = makeSpec({ ...layers, normalization: "gatys" });
    const targets = await tfjsTargets(byImage, weights, contentImage, styleImage);
    const s = await tfjsEvaluate(byImage, weights, targets, image);
    const g = await tfjsEvaluate(gatys, weights, targets, image);
    assertClose(g.content, 0.5 * s.content, 1e-6, "gatys content is half the image-normalised content");

    const single = (normalization: "image" | "gatys"): ObjectiveSpec =>
      makeSpec({ styleLayers: [{ layer: "block2_conv1", weight: 1 }], contentWeight: 0, normalization });
    const sOne = await tfjsEvaluate(single("image"), weights, targets, image);
    const gOne = await tfjsEvaluate(single("gatys"), weights, targets, image);
    // block2_conv1 at 12x16: C = 128, h*w = 6*8, against the image normalisation's 3 channels and 12*16 pixels.
    assertClose(gOne.style / sOne.style, (9 * (H * W) ** 2) / (128 ** 2 * 48 ** 2), 1e-5, "style normalisation ratio");

    for (const [spec, ev] of [[byImage, s], [gatys, g]] as const) {
      const direct = objective64(spec, weights, targets, image);
      assertClose(ev.content, direct.content, 1e-4, `${spec.normalization} content`);
      assertClose(ev.style, direct.style, 1e-4, `${spec.normalization} style`);
    }
    await checkGradient(gatys, 30);
  });

  test("repeated calls do not leak tensors", async () => {
    const spec = makeSpec({ contentLayers: [{ layer: "block1_conv1", weight: 1 }], styleLayers: [{ layer: "block1_conv1", weight: 1 }], tvWeight: 1 });
    const targets = await tfjsTargets(spec, weights, contentImage, styleImage);
    await tfjsEvaluate(spec, weights, targets, image);
    const before = tf.memory().numTensors;
    await tfjsTargets(spec, weights, contentImage, styleImage);
    await tfjsEvaluate(spec, weights, targets, image);
    assert.equal(tf.memory().numTensors, before);
  });

  test("runs only as deep as the deepest layer used", async () => {
    const shallow = randomWeights(5, "block1_conv2");
    const spec = makeSpec({ contentLayers: [{ layer: "block1_conv2", weight: 1 }], styleLayers: [{ layer: "block1_conv1", weight: 1 }] });
    const targets = await tfjsTargets(spec, shallow, contentImage, styleImage);
    const ev = await tfjsEvaluate(spec, shallow, targets, image);
    assert.ok(Number.isFinite(ev.loss));
  });
});
