/**
 * How much context a window needs: the tiled loss and gradient against one session's on the real
 * VGG19 at 512x384 (dog, The Scream; the image is half the painting) for margins below the
 * network's full reach (96 px at block5_conv1), in windows of about 320 px.
 *
 *   node --import tsx bench/tile-margin.ts [preset]
 */
import { ObjectiveSession } from "../src/engine/ObjectiveSession.js";
import { TiledObjectiveSession } from "../src/engine/TiledObjectiveSession.js";
import { planTiles } from "../src/objective/Tiles.js";
import type { PresetName } from "../src/pipeline/types.js";
import { realObjective } from "./real-objective.js";

const { spec, weights, targets, x } = await realObjective(512, 384, (process.argv[2] ?? "default") as PresetName);
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
