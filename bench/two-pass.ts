/**
 * What exactness costs before any overlap: seconds per evaluation of the tiled session with a
 * single window the size of the image (its two passes: forward for the whole-image sums, then
 * forward and backward) against one session, on the real VGG19 and the default objective. Tiled
 * runs pay this ratio times their windows' overlap (bench/hires.ts measures both together).
 *
 *   node --import tsx bench/two-pass.ts [--size 1024x768] [--evals 4]
 */
import { cpus } from "node:os";
import { ObjectiveSession } from "../src/engine/ObjectiveSession.js";
import { TiledObjectiveSession } from "../src/engine/TiledObjectiveSession.js";
import { planTiles } from "../src/objective/Tiles.js";
import { arg } from "./args.js";
import { realObjective } from "./real-objective.js";

const [width, height] = (arg("--size") ?? "1024x768").split("x").map(Number);
const evals = Number(arg("--evals") ?? 4);
const { spec, weights, targets, x } = await realObjective(width, height);

interface Timed {
  setTargets(t: typeof targets): void;
  evaluate(x: Float64Array): Promise<unknown>;
  release(): Promise<void>;
}

/** Median seconds per evaluation after one that sets the session's memory up. */
async function time(session: Timed): Promise<number> {
  session.setTargets(targets);
  await session.evaluate(x);
  const seconds: number[] = [];
  for (let i = 0; i < evals; i++) {
    const started = performance.now();
    await session.evaluate(x);
    seconds.push((performance.now() - started) / 1000);
  }
  await session.release();
  seconds.sort((a, b) => a - b);
  return seconds[Math.floor(seconds.length / 2)];
}

console.log(`machine: ${cpus()[0].model}, ${cpus().length} cores; ${width}x${height}, default objective, ${evals} timed evaluations each`);
// Interleaved twice, so that a change in the machine's load shows as a spread rather than a bias.
const one: number[] = [];
const two: number[] = [];
for (let round = 0; round < 2; round++) {
  one.push(await time(await ObjectiveSession.create(spec, weights)));
  two.push(await time(await TiledObjectiveSession.create(spec, weights, planTiles("vgg19", "block5_conv1", spec, spec))));
}
const f = (xs: number[]) => xs.map((s) => s.toFixed(2)).join(", ");
console.log(`one session: ${f(one)} s/eval; two passes in one window: ${f(two)} s/eval; ratio ${(Math.min(...two) / Math.min(...one)).toFixed(2)}`);
