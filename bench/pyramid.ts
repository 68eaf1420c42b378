/**
 * Coarse-to-fine time-to-quality: the `default` preset with its pyramid (`--scales auto`) against
 * the same objective at full size alone, at 512 and 1024 px.
 *
 * The pyramid run gives a final full-resolution loss L and a wall time T. The single-scale run then
 * optimises the same objective from the same start and is timed until its loss first reaches L
 * (or until `--cap` times T, reported as not reached). Both include session creation and targets.
 *
 *   node --import tsx bench/pyramid.ts [--sizes 512,1024] [--cap 3] [--json]
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { stylize } from "../src/pipeline/Stylize.js";
import type { StylizeOptions } from "../src/pipeline/types.js";
import { arg } from "./args.js";

const shared = (p: string) => fileURLToPath(new URL(`../../shared/${p}`, import.meta.url));
const WEIGHTS = shared("weights/vgg19_notop_8bit.h5");
const CONTENT = shared("images/content-astronaut.png");
const STYLE = shared("images/style-starry-night.jpg");

interface Row {
  size: number;
  scales: number;
  pyramidS: number;
  pyramidEvals: number;
  pyramidLoss: number;
  singleS: number | null;
  singleEvals: number;
  singleBestLoss: number;
  speedup: number | null;
}

async function pyramidRun(base: StylizeOptions) {
  const started = performance.now();
  const result = await stylize({ ...base }).result;
  const scales = new Set(result.evaluations.map((e) => e.scale)).size;
  return { seconds: (performance.now() - started) / 1000, loss: result.finalLoss, evaluations: result.evaluations.length, scales };
}

/** Runs at full size alone until the loss reaches `target` or `capS` seconds pass. */
async function singleScaleRun(base: StylizeOptions, target: number, capS: number) {
  const controller = new AbortController();
  const started = performance.now();
  let reachedS: number | null = null;
  let best = Infinity;
  let evaluations = 0;
  const job = stylize({ ...base, scales: 1, iterations: 1000, signal: controller.signal });
  job.on("progress", (p) => {
    evaluations = p.evaluation;
    best = Math.min(best, p.loss);
    const elapsed = (performance.now() - started) / 1000;
    if (reachedS === null && p.loss <= target) reachedS = elapsed;
    if (reachedS !== null || elapsed > capS) controller.abort();
  });
  await job.result.catch((e: { code?: string }) => {
    if (e.code !== "CANCELLED") throw e;
  });
  return { seconds: reachedS, evaluations, best };
}

async function main(): Promise<void> {
  if (!existsSync(WEIGHTS)) {
    process.stderr.write(`needs the shared VGG19 weights at ${WEIGHTS}\n`);
    process.exitCode = 2;
    return;
  }
  const sizes = (arg("--sizes") ?? "512,1024").split(",").map(Number);
  const cap = Number(arg("--cap") ?? 3);
  const json = process.argv.includes("--json");
  if (!json) process.stdout.write("size  scales  pyramid s  evals  final loss   single-scale s to that loss  evals  speed-up\n");
  for (const size of sizes) {
    const base: StylizeOptions = { content: CONTENT, styles: [STYLE], preset: "default", size, weights: WEIGHTS };
    const p = await pyramidRun(base);
    const s = await singleScaleRun(base, p.loss, cap * p.seconds);
    const row: Row = {
      size,
      scales: p.scales,
      pyramidS: Math.round(p.seconds * 10) / 10,
      pyramidEvals: p.evaluations,
      pyramidLoss: p.loss,
      singleS: s.seconds === null ? null : Math.round(s.seconds * 10) / 10,
      singleEvals: s.evaluations,
      singleBestLoss: s.best,
      speedup: s.seconds === null ? null : Math.round((s.seconds / p.seconds) * 100) / 100,
    };
    if (json) process.stdout.write(JSON.stringify(row) + "\n");
    else {
      const single = row.singleS === null ? `not reached in ${Math.round(cap * p.seconds)} s (best ${s.best.toExponential(3)})` : `${row.singleS}`;
      process.stdout.write(
        `${String(size).padStart(4)}  ${String(row.scales).padStart(6)}  ${row.pyramidS.toFixed(1).padStart(9)}  ${String(row.pyramidEvals).padStart(5)}  ${p.loss.toExponential(3)}  ${single.padStart(27)}  ${String(row.singleEvals).padStart(5)}  ${row.speedup === null ? `> ${cap}` : row.speedup.toFixed(2)}x\n`,
      );
    }
  }
}

await main();
