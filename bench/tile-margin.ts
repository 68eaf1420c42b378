/**
 * How much context a window needs: the tiled loss and gradient against one session's on the real
 * VGG19 at 512x384 (dog, The Scream; the image is half the painting) for margins below the
 * network's full reach (96 px at block5_conv1), in windows of about 320 px.
 *
 *   node --import tsx bench/tile-margin.ts [preset]
 */
import { ObjectiveSession } from "../src/engine/ObjectiveSession.js";
import { TargetExtractor } from "../src/engine/TargetExtractor.js";
import { TiledObjectiveSession } from "../src/engine/TiledObjectiveSession.js";
import { prepareTargets } from "../src/objective/LossTerms.js";
import type { ObjectiveSpec } from "../src/objective/ObjectiveSpec.js";
import { planTiles } from "../src/objective/Tiles.js";
import { backboneFor } from "../src/backbone/Backbone.js";
import { imageToCaffe } from "../src/backbone/CaffeTensor.js";
import { readImage, resizeTo } from "../src/image/ImageIO.js";
import { resolveSettings } from "../src/pipeline/Settings.js";

const shared = (p: string) => new URL(`../../shared/${p}`, import.meta.url).pathname;
const settings = resolveSettings({ content: "x", styles: ["y"], preset: (process.argv[2] ?? "default") as "default" });
const spec: ObjectiveSpec = { ...settings, height: 384, width: 512, pixelRatio: 1, styleRegions: 0 };
const weights = await backboneFor("vgg19").obtainWeights({ weights: shared("weights/vgg19_notop_8bit.h5"), upTo: "block5_conv1" });
const c = await readImage(shared("images/content-dog.jpg"), { maxPixels: 1e8, label: "c" });
const st = await readImage(shared("images/style-scream.jpg"), { maxPixels: 1e8, label: "s" });
const ex = await TargetExtractor.create(spec, weights, spec);
const content = await ex.extract(imageToCaffe(await resizeTo(c, 512, 384)));
const style = await ex.extract(imageToCaffe(await resizeTo(st, 512, 384)));
const targets = prepareTargets(spec, { content, styles: [{ features: style, size: spec, blend: 1 }] });
const x = imageToCaffe(await resizeTo(st, 512, 384), new Float64Array(3 * 512 * 384)).map((v) => v * 0.5);
const whole = await ObjectiveSession.create(spec, weights);
whole.setTargets(targets);
const e = await whole.evaluate(x);
await whole.release();
for (const margin of [16, 32, 48, 64, 96]) {
  const plan = planTiles("vgg19", "block5_conv1", spec, { width: 320, height: 320 }, margin);
  const t = await TiledObjectiveSession.create(spec, weights, plan);
  t.setTargets(targets);
  const g = await t.evaluate(x);
  await t.release();
  let num = 0;
  let den = 0;
  for (let i = 0; i < e.grad.length; i++) { num += (g.grad[i] - e.grad[i]) ** 2; den += e.grad[i] ** 2; }
  console.log(`margin ${margin}: ${plan.tiles.length} windows, loss rel ${(Math.abs(g.loss - e.loss) / e.loss).toExponential(2)}, grad rel L2 ${Math.sqrt(num / den).toExponential(2)}, terms ${JSON.stringify(Object.fromEntries(Object.entries(g.terms).map(([k, v]) => [k, ((v - e.terms[k]) / e.loss).toExponential(1)])))}`);
}
