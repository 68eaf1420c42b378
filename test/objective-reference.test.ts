import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ObjectiveSession } from "../src/engine/ObjectiveSession.js";
import { TargetExtractor } from "../src/engine/TargetExtractor.js";
import type { Normalization, ObjectiveSpec } from "../src/objective/ObjectiveSpec.js";
import { backboneFor } from "../src/backbone/Backbone.js";
import { tfjsEvaluate, tfjsTargets } from "./reference/TfjsObjective.js";
import { randomImage } from "./helpers/randomWeights.js";

// The float32 ORT graph (real Conv kernels) against TensorFlow.js autodiff of the same objective,
// on the shared 8-bit VGG19 weights.
const WEIGHTS = fileURLToPath(new URL("../../shared/weights/vgg19_notop_8bit.h5", import.meta.url));
const present = existsSync(WEIGHTS);
const skip = present ? false : `shared VGG19 weights not found at ${WEIGHTS}`;

function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

const layers = (...names: string[]) => names.map((layer, i) => ({ layer, weight: i + 1 }));

function spec(height: number, width: number, normalization: Normalization, pooling: "max" | "avg"): ObjectiveSpec {
  return {
    model: "vgg19",
    height,
    width,
    contentLayers: layers("block4_conv2"),
    styleLayers: layers("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"),
    contentWeight: { image: 0.02, gatys: 1, balanced: 1 }[normalization],
    styleWeight: { image: 4.5, gatys: 1e3, balanced: 10 }[normalization],
    tvWeight: normalization === "balanced" ? 1e-4 : 0.5,
    tvPower: 1.25,
    normalization,
    pooling,
  };
}

const cases: [number, number, Normalization, "max" | "avg"][] = [
  [32, 48, "image", "max"],
  [32, 48, "balanced", "max"],
  [32, 48, "image", "avg"],
  [32, 48, "gatys", "max"],
  [32, 48, "gatys", "avg"],
];
// Odd sizes are checked against float64 finite differences in objective-gradient.test.ts: at 37x53,
// TF.js's own gradient past the second pooling differs from finite differences (relative L2 1.5e-3)
// while ours agrees with them.

for (const [h, w, normalization, pooling] of cases) {
  test(`ORT objective matches TF.js autodiff: ${h}x${w}, ${normalization} normalisation, ${pooling} pooling`, { skip }, async () => {
    const s = spec(h, w, normalization, pooling);
    const weights = await backboneFor("vgg19").loadWeights(WEIGHTS, { upTo: "block5_conv1" });
    const content = randomImage(h, w, 1);
    const style = randomImage(h, w, 2);
    const image = randomImage(h, w, 3);

    const extractor = await TargetExtractor.create(s, weights, s);
    const contentFeatures = await extractor.extract(content);
    const styleFeatures = await extractor.extract(style);
    await extractor.release();
    // The targets as fed to the graph (named by the terms) and as the reference takes them.
    const ortTargets = new Map([
      ...s.contentLayers.map(({ layer }): [string, Float32Array] => [`content:${layer}`, contentFeatures.get(`content:${layer}`)!]),
      ...s.styleLayers.map(({ layer }): [string, Float32Array] => [`gram:${layer}`, styleFeatures.get(`gram:${layer}`)!]),
    ]);
    const refTargets = {
      content: new Map(s.contentLayers.map(({ layer }) => [layer, ortTargets.get(`content:${layer}`)!])),
      grams: new Map(s.styleLayers.map(({ layer }) => [layer, ortTargets.get(`gram:${layer}`)!])),
    };
    const tfTargets = await tfjsTargets(s, weights, content, style);
    for (const [layer, f] of tfTargets.content) assert.ok(relativeL2(refTargets.content.get(layer)!, f) < 1e-5, `content target ${layer}`);
    for (const [layer, g] of tfTargets.grams) assert.ok(relativeL2(refTargets.grams.get(layer)!, g) < 1e-5, `Gram target ${layer}`);

    const session = await ObjectiveSession.create(s, weights);
    session.setTargets(ortTargets);
    const evaluation = await session.evaluate(image);
    await session.release();
    const ours: Record<string, number> = { loss: evaluation.loss, ...evaluation.terms };
    const ref = await tfjsEvaluate(s, weights, refTargets, image);
    for (const term of ["loss", "content", "style", "tv"] as const) {
      assert.ok(Math.abs(ours[term] - ref[term]) <= 1e-4 * Math.abs(ref[term]), `${term}: ${ours[term]} vs ${ref[term]}`);
    }
    const grad = evaluation.grad;
    const err = relativeL2(grad, ref.grad);
    assert.ok(err <= 1e-4, `gradient relative L2 ${err}`);
  });
}
