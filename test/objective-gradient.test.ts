import { test } from "node:test";
import assert from "node:assert/strict";
import { ObjectiveSession } from "../src/engine/ObjectiveSession.js";
import { TargetExtractor } from "../src/engine/TargetExtractor.js";
import { prepareTargets } from "../src/objective/LossTerms.js";
import type { ObjectiveSpec, ObjectiveTargets } from "../src/objective/ObjectiveSpec.js";
import { backboneFor } from "../src/backbone/Backbone.js";
import { mulberry32 } from "../src/util/Random.js";
import { randomImage, randomVggWeights } from "./helpers/randomWeights.js";

// The hand-derived backward pass against central finite differences, in float64 on tiny images.
const weights = randomVggWeights("vgg16", 11, "block3_conv1");
const contentLayers = [{ layer: "block2_conv2", weight: 1 }];
const styleLayers = [
  { layer: "block1_conv2", weight: 1 },
  { layer: "block2_conv1", weight: 2 },
  { layer: "block3_conv1", weight: 1 },
];

async function targetsFor(spec: ObjectiveSpec): Promise<ObjectiveTargets> {
  const extractor = await TargetExtractor.create(spec, weights, spec);
  const content = await extractor.extract(randomImage(spec.height, spec.width, 2));
  const styles = [await extractor.extract(randomImage(spec.height, spec.width, 3)), await extractor.extract(randomImage(spec.height, spec.width, 5))];
  await extractor.release();
  if (!spec.styleRegions) return prepareTargets(spec, { content, styles: [{ features: styles[0], size: spec, blend: 1 }] });
  // Soft random masks, as region borders are after downsampling, and one style per region.
  const rand = mulberry32(9);
  const masks = new Map<string, Float32Array>();
  for (let r = 0; r < spec.styleRegions; r++) {
    for (const { layer } of styleLayers) {
      const { width, height } = backboneFor(spec.model).featureSize(spec, layer);
      const n = width * height;
      masks.set(`${r}:${layer}`, new Float32Array(n).map(() => rand()));
    }
  }
  return prepareTargets(spec, {
    content,
    styles: Array.from({ length: spec.styleRegions }, (_, r) => ({ features: styles[r % 2], size: spec, blend: 1 })),
    regionMask: (r, layer) => masks.get(`${r}:${layer}`)!,
  });
}

async function worstRelativeError(spec: ObjectiveSpec, samples: number): Promise<number> {
  const session = await ObjectiveSession.create(spec, weights, {}, "float64");
  session.setTargets(await targetsFor(spec));
  const x = Float64Array.from(randomImage(spec.height, spec.width, 4));
  const { grad } = await session.evaluate(x);
  let worst = 0;
  const h = 1e-3;
  for (let k = 0; k < samples; k++) {
    const i = (k * 7919 + 13) % x.length;
    const plus = x.slice();
    const minus = x.slice();
    plus[i] += h;
    minus[i] -= h;
    const fd = ((await session.evaluate(plus)).loss - (await session.evaluate(minus)).loss) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - grad[i]) / Math.max(Math.abs(fd), Math.abs(grad[i]), 1e-9));
  }
  await session.release();
  return worst;
}

const base: ObjectiveSpec = {
  model: "vgg16",
  height: 12,
  width: 16,
  contentLayers,
  styleLayers,
  contentWeight: 1,
  styleWeight: 1,
  tvWeight: 1,
  tvPower: 1.25,
  normalization: "image",
  pooling: "max",
};

const cases: [string, Partial<ObjectiveSpec>][] = [
  ["content term alone", { styleWeight: 0, tvWeight: 0 }],
  ["style term alone, image normalisation", { contentWeight: 0, tvWeight: 0 }],
  ["style term alone, gatys normalisation", { contentWeight: 0, tvWeight: 0, normalization: "gatys" }],
  ["style term alone, balanced normalisation", { contentWeight: 0, tvWeight: 0, normalization: "balanced" }],
  ["content term alone, balanced normalisation", { styleWeight: 0, tvWeight: 0, normalization: "balanced" }],
  ["all terms, balanced normalisation, odd size 13x17", { height: 13, width: 17, normalization: "balanced", styleWeight: 10, tvWeight: 1e-3 }],
  ["total variation alone, power 1.25", { contentWeight: 0, styleWeight: 0 }],
  ["total variation alone, power 2", { contentWeight: 0, styleWeight: 0, tvPower: 2 }],
  ["all terms, average pooling", { pooling: "avg", normalization: "gatys", styleWeight: 1e4 }],
  ["all terms, odd size 13x17, max pooling", { height: 13, width: 17, styleWeight: 1e4 }],
  ["all terms, odd size 13x17, average pooling", { height: 13, width: 17, pooling: "avg", styleWeight: 1e4 }],
  // 37x53 pools to 18x26 then 9x13: odd sizes on both sides of a pooling.
  ["all terms, odd size 37x53, max pooling", { height: 37, width: 53, styleWeight: 1e4 }],
  ["masked style regions alone, image normalisation", { contentWeight: 0, tvWeight: 0, styleRegions: 2 }],
  ["masked style regions alone, gatys normalisation", { contentWeight: 0, tvWeight: 0, styleRegions: 2, normalization: "gatys" }],
  ["masked style regions alone, balanced normalisation", { contentWeight: 0, tvWeight: 0, styleRegions: 2, normalization: "balanced" }],
];

for (const [name, change] of cases) {
  test(`gradient matches central differences: ${name}`, async () => {
    const worst = await worstRelativeError({ ...base, ...change }, 24);
    assert.ok(worst < 1e-3, `worst relative error ${worst}`);
  });
}

// The float32 graph uses ORT's Conv, AveragePool and MaxUnpool where the float64 one lowers them;
// at an odd size both must agree with each other (and so with the finite differences above).
for (const pooling of ["max", "avg"] as const) {
  test(`float32 graph agrees with the float64 graph at 37x53, ${pooling} pooling`, async () => {
    const spec: ObjectiveSpec = { ...base, height: 37, width: 53, pooling, styleWeight: 1e4 };
    const targets = await targetsFor(spec);
    const x = randomImage(spec.height, spec.width, 4);
    const results = [];
    for (const floatType of ["float32", "float64"] as const) {
      const session = await ObjectiveSession.create(spec, weights, {}, floatType);
      session.setTargets(targets);
      results.push(await session.evaluate(floatType === "float32" ? x : Float64Array.from(x)));
      await session.release();
    }
    const [f32, f64] = results;
    let num = 0;
    let den = 0;
    for (let i = 0; i < f64.grad.length; i++) {
      num += (f32.grad[i] - f64.grad[i]) ** 2;
      den += f64.grad[i] ** 2;
    }
    assert.ok(Math.sqrt(num / den) < 1e-5, `gradient relative L2 ${Math.sqrt(num / den)}`);
    assert.ok(Math.abs(f32.loss - f64.loss) < 1e-5 * f64.loss, `loss ${f32.loss} vs ${f64.loss}`);
  });
}
