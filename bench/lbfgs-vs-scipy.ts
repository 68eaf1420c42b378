/**
 * Our L-BFGS against scipy's fmin_l_bfgs_b on one and the same ORT objective: the seed preset's
 * loss on VGG19 (shared 8-bit weights), astronaut + starry night squashed to size x size. Both run
 * the seed's outer loop (restarts x minimise with maxfun evaluations, fresh history each time) from
 * the same x0. scipy runs in bench/scipy_lbfgs.py and asks this process for every evaluation over
 * pipes, so both optimisers see bit-identical losses and gradients and every evaluation is counted
 * here, in the same way for both.
 *
 *   node --import tsx bench/lbfgs-vs-scipy.ts [--size 128] [--restarts 10] [--maxfun 20]
 *        [--inits content,noise] [--seed 0] [--threads N] [--json]
 *
 * Issue target: with --init content, ours ends within 2% of scipy's final loss (or below it).
 */
import { spawn } from "node:child_process";
import os from "node:os";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { ObjectiveSession } from "../src/engine/ObjectiveSession.js";
import { TargetExtractor } from "../src/engine/TargetExtractor.js";
import { prepareTargets, termLayers } from "../src/objective/LossTerms.js";
import { deepestLayer } from "../src/objective/ObjectiveGraph.js";
import type { ObjectiveSpec } from "../src/objective/ObjectiveSpec.js";
import { readImage, resizeTo } from "../src/image/ImageIO.js";
import { DEFAULT_MAX_INPUT_PIXELS } from "../src/pipeline/OptionSchema.js";
import { Lbfgs } from "../src/optim/Lbfgs.js";
import type { Objective, Vector } from "../src/optim/Optimizer.js";
import { PRESETS } from "../src/pipeline/Presets.js";
import { mulberry32 } from "../src/util/Random.js";
import { backboneFor } from "../src/backbone/Backbone.js";
import { arg } from "./args.js";

const shared = (file: string) => fileURLToPath(new URL(`../../shared/${file}`, import.meta.url));
const WEIGHTS = shared("weights/vgg19_notop_8bit.h5");
const vgg19 = backboneFor("vgg19");
const CONTENT = shared("images/content-astronaut.png");
const STYLE = shared("images/style-starry-night.jpg");
const SCIPY_HELPER = fileURLToPath(new URL("./scipy_lbfgs.py", import.meta.url));
/** The tolerance: ours may end at most 2% above scipy. */
const TOLERANCE = 1.02;

// Frame types of the pipe protocol; see bench/scipy_lbfgs.py.
const EVALUATE = 1;
const RESTART_DONE = 2;

type Init = "content" | "noise";

interface Restart {
  /** Loss at the point the restart returned. */
  loss: number;
  /** Evaluations made by this process for this optimiser so far, all restarts included. */
  evaluations: number;
  /** Accepted steps in this restart: with the evaluations, shows how many went to line searches. */
  iterations: number;
}

interface Run {
  restarts: Restart[];
  finalLoss: number;
  evaluations: number;
  /** Lowest loss among the first `n` evaluations, n = the other optimiser's total. */
  bestWithinOtherBudget?: number;
  evalSeconds: number;
  wallSeconds: number;
  /** scipy's own count (sum of info["funcalls"]), to check against ours. */
  scipyFuncalls?: number;
}

interface Row {
  init: Init;
  initialLoss: number;
  ours: Run;
  scipy: Run;
  ratio: number;
  pass: boolean;
}

function positiveInt(name: string, fallback: number): number {
  const v = Number(arg(name) ?? fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${arg(name)}`);
  return v;
}

/** The ORT objective with a log of every evaluation, shared by both optimisers. */
class CountedObjective {
  losses: number[] = [];
  seconds = 0;

  constructor(private readonly session: ObjectiveSession) {}

  reset(): void {
    this.losses = [];
    this.seconds = 0;
  }

  async evaluate(x: Vector): Promise<{ value: number; grad: Float64Array }> {
    const started = performance.now();
    const e = await this.session.evaluate(x);
    this.seconds += (performance.now() - started) / 1000;
    this.losses.push(e.loss);
    return { value: e.loss, grad: Float64Array.from(e.grad) };
  }

  bestOfFirst(n: number): number {
    return Math.min(...this.losses.slice(0, n));
  }
}

async function buildObjective(size: number, threads: number | undefined): Promise<{ session: ObjectiveSession; content: Float64Array }> {
  const spec: ObjectiveSpec = { ...PRESETS.seed, model: "vgg19", height: size, width: size };
  const weights = await backboneFor("vgg19").loadWeights(WEIGHTS, { upTo: deepestLayer("vgg19", termLayers(spec)) });
  // Squashed to the same square as the output (as --preset seed does), so the Grams need no rescaling.
  const content = await resizeTo(await readImage(CONTENT, { maxPixels: DEFAULT_MAX_INPUT_PIXELS }), size, size);
  const style = await resizeTo(await readImage(STYLE, { maxPixels: DEFAULT_MAX_INPUT_PIXELS }), size, size);
  const extractor = await TargetExtractor.create(spec, weights, { height: size, width: size }, { threads });
  const contentFeatures = await extractor.extract(vgg19.toInput(content));
  const styleFeatures = await extractor.extract(vgg19.toInput(style));
  await extractor.release();
  const session = await ObjectiveSession.create(spec, weights, { threads });
  session.setTargets(prepareTargets(spec, { content: contentFeatures, styles: [{ features: styleFeatures, size: style, blend: 1 }] }));
  return { session, content: vgg19.toInput(content, new Float64Array(3 * size * size)) };
}

/** The seed's start: uniform noise in [0,255) minus 128, as src/pipeline/Stylize.ts draws it. */
function noise(n: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  return new Float64Array(n).map(() => 255 * rand() - 128);
}

async function runOurs(objective: CountedObjective, x0: Float64Array, restarts: number, maxfun: number): Promise<Run> {
  objective.reset();
  const started = performance.now();
  const f: Objective = (x) => objective.evaluate(x);
  let x: Vector = x0;
  const log: Restart[] = [];
  for (let i = 0; i < restarts; i++) {
    const result = await new Lbfgs({ maxfun }).minimize(f, x);
    x = result.x;
    log.push({ loss: result.value, evaluations: objective.losses.length, iterations: result.iterations });
  }
  return summary(objective, log, started);
}

/** Yields the child's framed messages (uint32 type, uint32 length, payload) as they complete. */
async function* frames(stream: Readable): AsyncGenerator<{ kind: number; payload: Buffer }> {
  let pending = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = Buffer.concat([pending, chunk as Buffer]);
    while (pending.length >= 8 && pending.length >= 8 + pending.readUInt32LE(4)) {
      const length = pending.readUInt32LE(4);
      yield { kind: pending.readUInt32LE(0), payload: pending.subarray(8, 8 + length) };
      pending = pending.subarray(8 + length);
    }
  }
  if (pending.length > 0) throw new Error(`scipy helper stopped mid-message (${pending.length} bytes left)`);
}

function toBytes(values: Float64Array, head?: number): Buffer {
  const offset = head === undefined ? 0 : 1;
  const out = Buffer.alloc(8 * (values.length + offset));
  if (head !== undefined) out.writeDoubleLE(head, 0);
  for (let i = 0; i < values.length; i++) out.writeDoubleLE(values[i], 8 * (i + offset));
  return out;
}

async function runScipy(objective: CountedObjective, x0: Float64Array, restarts: number, maxfun: number): Promise<Run> {
  objective.reset();
  const started = performance.now();
  const n = x0.length;
  const child = spawn("python3", [SCIPY_HELPER, String(n), String(restarts), String(maxfun)], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  // A helper that dies makes writes fail with EPIPE; its exit status below reports the real cause.
  child.stdin.on("error", () => undefined);
  child.stdin.write(toBytes(x0));

  const log: Restart[] = [];
  let funcalls = 0;
  for await (const { kind, payload } of frames(child.stdout)) {
    if (kind === EVALUATE) {
      if (payload.length !== 8 * n) throw new Error(`scipy sent ${payload.length} bytes for a ${n}-value point`);
      const x = new Float64Array(n);
      for (let i = 0; i < n; i++) x[i] = payload.readDoubleLE(8 * i);
      const e = await objective.evaluate(x);
      child.stdin.write(toBytes(e.grad, e.value));
    } else if (kind === RESTART_DONE) {
      const report = JSON.parse(payload.toString("utf8")) as { loss: number; funcalls: number; nit: number };
      funcalls += report.funcalls;
      log.push({ loss: report.loss, evaluations: objective.losses.length, iterations: report.nit });
    } else {
      throw new Error(`unknown message type ${kind} from the scipy helper`);
    }
  }
  child.stdin.end();
  const code = await exited;
  if (code !== 0 || log.length !== restarts) throw new Error(`scipy helper exited with ${code} after ${log.length} of ${restarts} restarts`);
  return { ...summary(objective, log, started), scipyFuncalls: funcalls };
}

function summary(objective: CountedObjective, log: Restart[], started: number): Run {
  return {
    restarts: log,
    finalLoss: log[log.length - 1].loss,
    evaluations: objective.losses.length,
    evalSeconds: objective.seconds,
    wallSeconds: (performance.now() - started) / 1000,
  };
}

async function compare(objective: CountedObjective, init: Init, x0: Float64Array, restarts: number, maxfun: number): Promise<Row> {
  const ours = await runOurs(objective, x0, restarts, maxfun);
  const initialLoss = objective.losses[0];
  const oursLosses = objective.losses.slice();
  const scipy = await runScipy(objective, x0, restarts, maxfun);
  // scipy finishes the iteration that crosses maxfun, so it usually spends more evaluations than
  // ours; the best loss each side had seen within the other's total shows the budget-matched picture.
  scipy.bestWithinOtherBudget = objective.bestOfFirst(ours.evaluations);
  ours.bestWithinOtherBudget = Math.min(...oursLosses.slice(0, scipy.evaluations));
  const ratio = ours.finalLoss / scipy.finalLoss;
  return { init, initialLoss, ours, scipy, ratio, pass: ratio <= TOLERANCE };
}

function printRow(row: Row): void {
  const { ours, scipy } = row;
  const out: string[] = [`\n--init ${row.init}: loss at x0 ${row.initialLoss.toExponential(4)}`];
  out.push("restart   ours loss    evals (steps)   scipy loss   evals (steps)");
  for (let i = 0; i < ours.restarts.length; i++) {
    const a = ours.restarts[i];
    const b = scipy.restarts[i];
    const cell = (r: Restart) => `${r.loss.toExponential(4).padStart(11)}  ${String(r.evaluations).padStart(5)} (${String(r.iterations).padStart(2)})`;
    out.push(`${String(i + 1).padStart(7)}   ${cell(a)}   ${cell(b)}`);
  }
  out.push(`final loss: ours ${ours.finalLoss.toExponential(4)}, scipy ${scipy.finalLoss.toExponential(4)}; ours/scipy = ${row.ratio.toFixed(4)} (${row.pass ? "PASS" : "FAIL"}: target <= ${TOLERANCE})`);
  out.push(`evaluations: ours ${ours.evaluations}, scipy ${scipy.evaluations} (scipy's own funcalls sum: ${scipy.scipyFuncalls})`);
  out.push(
    `budget-matched: scipy's best within its first ${ours.evaluations} evaluations ${scipy.bestWithinOtherBudget!.toExponential(4)} ` +
      `(ours/that = ${(ours.finalLoss / scipy.bestWithinOtherBudget!).toFixed(4)})`,
  );
  out.push(
    `seconds: ours ${ours.wallSeconds.toFixed(1)} wall / ${ours.evalSeconds.toFixed(1)} in evaluations; ` +
      `scipy ${scipy.wallSeconds.toFixed(1)} wall / ${scipy.evalSeconds.toFixed(1)} in evaluations (the rest is pipes and Python)`,
  );
  process.stdout.write(out.join("\n") + "\n");
}

async function main(): Promise<void> {
  const size = positiveInt("--size", 128);
  const restarts = positiveInt("--restarts", 10);
  const maxfun = positiveInt("--maxfun", 20);
  const seed = Number(arg("--seed") ?? 0);
  const threads = arg("--threads") === undefined ? undefined : positiveInt("--threads", 1);
  const inits = (arg("--inits") ?? "content,noise").split(",");
  for (const init of inits) if (init !== "content" && init !== "noise") throw new Error(`--inits takes content and/or noise, got ${init}`);
  const json = process.argv.includes("--json");

  const loadBefore = os.loadavg();
  const { session, content } = await buildObjective(size, threads);
  const objective = new CountedObjective(session);
  if (!json) process.stdout.write(`seed objective on VGG19 at ${size}x${size}, ${restarts} restarts x maxfun ${maxfun}; load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")}\n`);
  const rows: Row[] = [];
  try {
    for (const init of inits as Init[]) {
      const row = await compare(objective, init, init === "content" ? content : noise(content.length, seed), restarts, maxfun);
      rows.push(row);
      if (!json) printRow(row);
    }
  } finally {
    await session.release();
  }
  const loadAfter = os.loadavg();
  if (json) {
    process.stdout.write(JSON.stringify({ model: "vgg19", preset: "seed", size, restarts, maxfun, seed, tolerance: TOLERANCE, loadBefore, loadAfter, rows }) + "\n");
  } else {
    process.stdout.write(`\nload average after: ${loadAfter.map((l) => l.toFixed(2)).join(" ")} (${os.cpus().length} cores)\n`);
  }
}

await main();
