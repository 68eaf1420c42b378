import { test } from "node:test";
import assert from "node:assert/strict";
import { ObjectiveSession } from "../src/engine/ObjectiveSession.js";
import { TargetExtractor } from "../src/engine/TargetExtractor.js";
import { TiledObjectiveSession } from "../src/engine/TiledObjectiveSession.js";
import { backboneFor } from "../src/backbone/Backbone.js";
import { prepareTargets } from "../src/objective/LossTerms.js";
import type { ObjectiveSpec, ObjectiveTargets } from "../src/objective/ObjectiveSpec.js";
import { tileMargin, tilesWithin, type TilePlan } from "../src/objective/Tiles.js";
import { mulberry32 } from "../src/util/Random.js";
import { randomImage, randomVggWeights } from "./helpers/randomWeights.js";

// Tiled evaluation against the whole image's on one session: the same loss, terms and gradient.
const weights = randomVggWeights("vgg19", 17, "block5_conv1");
const styleLayers = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"].map((layer) => ({ layer, weight: 1 }));
const base: ObjectiveSpec = {
  model: "vgg19",
  height: 256,
  width: 336,
  contentLayers: [{ layer: "block4_conv2", weight: 1 }],
  styleLayers,
  contentWeight: 1,
  styleWeight: 10,
  tvWeight: 1e-3,
  tvPower: 1.25,
  normalization: "balanced",
  pooling: "max",
};

/** The plan for windows of at most `side` x `side` px. */
function plan(spec: ObjectiveSpec, side: number): TilePlan {
  return tilesWithin(spec.model, "block5_conv1", spec, side * side)!;
}

async function targetsFor(spec: ObjectiveSpec, tiles?: TilePlan): Promise<ObjectiveTargets> {
  const extractor = await TargetExtractor.create(spec, weights, spec, {}, undefined, tiles);
  const content = await extractor.extract(randomImage(spec.height, spec.width, 2));
  const style = await extractor.extract(randomImage(spec.height, spec.width, 3));
  await extractor.release();
  if (!spec.styleRegions) return prepareTargets(spec, { content, styles: [{ features: style, size: spec, blend: 1 }] });
  const rand = mulberry32(9);
  const masks = new Map<string, Float32Array>();
  for (let r = 0; r < spec.styleRegions; r++) {
    for (const { layer } of styleLayers) {
      const { width, height } = backboneFor(spec.model).featureSize(spec, layer);
      masks.set(`${r}:${layer}`, new Float32Array(width * height).map(() => rand()));
    }
  }
  return prepareTargets(spec, {
    content,
    styles: Array.from({ length: spec.styleRegions }, () => ({ features: style, size: spec, blend: 1 })),
    regionMask: (r, layer) => masks.get(`${r}:${layer}`)!,
  });
}

function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

test("windows own every position exactly once and keep the network's reach inside them", () => {
  const margin = tileMargin("vgg19", "block5_conv1");
  assert.equal(margin, 96);
  for (const [height, width, side] of [
    [256, 336, 240],
    [301, 517, 240],
    [1000, 37, 120],
    [3072, 4096, 1289],
  ]) {
    const p = tilesWithin("vgg19", "block5_conv1", { width, height }, side * side)!;
    assert.ok(p.window.width * p.window.height <= side * side);
    const count = new Uint8Array(width * height);
    for (const t of p.tiles) {
      assert.equal(t.x % 16, 0);
      assert.equal(t.y % 16, 0);
      assert.ok(t.x + p.window.width <= width && t.y + p.window.height <= height);
      const { x0, x1, y0, y1 } = t.owned;
      assert.ok(x0 === 0 || x0 - t.x >= margin, `left margin ${x0 - t.x}`);
      assert.ok(x1 === width || t.x + p.window.width - x1 >= margin, `right margin`);
      assert.ok(y0 === 0 || y0 - t.y >= margin, `top margin`);
      assert.ok(y1 === height || t.y + p.window.height - y1 >= margin, `bottom margin`);
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) count[y * width + x]++;
    }
    assert.ok(count.every((c) => c === 1), `${width}x${height}: every pixel owned once`);
  }
});

test("tiled target features equal the whole image's", async () => {
  const spec = { ...base, height: 272, width: 304 };
  const tiles = plan(spec, 240);
  assert.ok(tiles.tiles.length >= 4, `${tiles.tiles.length} windows`);
  const whole = await targetsFor(spec);
  const tiled = await targetsFor(spec, tiles);
  for (const [name, data] of whole) assert.ok(relativeL2(tiled.get(name)!, data) < 1e-4, `${name}: ${relativeL2(tiled.get(name)!, data)}`);
});

const cases: [string, Partial<ObjectiveSpec>][] = [
  ["balanced normalisation", {}],
  ["gatys normalisation, odd size 261x343", { normalization: "gatys", height: 261, width: 343, styleWeight: 1e3 }],
  ["image normalisation", { normalization: "image", styleWeight: 1e3 }],
  ["masked style regions, gatys normalisation", { normalization: "gatys", styleRegions: 2, styleWeight: 1e3 }],
  ["masked style regions, balanced normalisation, average pooling", { styleRegions: 2, pooling: "avg" }],
];

for (const [name, change] of cases) {
  test(`tiled loss, terms and gradient equal the whole image's: ${name}`, async () => {
    const spec = { ...base, ...change };
    const targets = await targetsFor(spec);
    const x = randomImage(spec.height, spec.width, 4);
    const whole = await ObjectiveSession.create(spec, weights);
    whole.setTargets(targets);
    const expected = await whole.evaluate(x);
    await whole.release();

    const tiles = plan(spec, 240);
    assert.ok(tiles.tiles.length >= 4, `${tiles.tiles.length} windows`);
    const tiled = await TiledObjectiveSession.create(spec, weights, tiles);
    tiled.setTargets(targets);
    let windows = 0;
    const got = await tiled.evaluate(x, () => windows++);
    await tiled.release();

    assert.equal(windows, 2 * tiles.tiles.length);
    assert.ok(Math.abs(got.loss - expected.loss) <= 1e-4 * expected.loss, `loss ${got.loss} vs ${expected.loss}`);
    for (const [term, value] of Object.entries(expected.terms)) {
      assert.ok(Math.abs(got.terms[term] - value) <= 1e-4 * Math.abs(expected.loss), `${term} ${got.terms[term]} vs ${value}`);
    }
    const error = relativeL2(got.grad, expected.grad);
    assert.ok(error < 1e-3, `gradient relative L2 ${error}`);
  });
}
