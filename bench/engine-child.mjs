// Measurement child of bench/engine.ts: one model and size, one JSON line on stdout. Plain
// JavaScript on the built library (dist/), as a user runs it: under tsx's loader h5wasm's embedded
// WebAssembly alone adds ~600 MB of RSS, which would swamp the peak-RSS figure.
//   node bench/engine-child.mjs <model> <size> <weights.h5> <runs> [threads]
import { ObjectiveSession } from "../dist/engine/ObjectiveSession.js";
import { termLayers } from "../dist/objective/LossTerms.js";
import { deepestLayer } from "../dist/objective/ObjectiveGraph.js";
import { PRESETS } from "../dist/pipeline/Presets.js";
import { backboneFor } from "../dist/backbone/Backbone.js";

const [model, sizeText, weightsFile, runsText, threadsText] = process.argv.slice(2);
const size = Number(sizeText);
const runs = Number(runsText);
const threads = threadsText ? Number(threadsText) : undefined;

const spec = { ...PRESETS.seed, model, height: size, width: size };
const deepest = deepestLayer(model, termLayers(spec));
const weights = await backboneFor(model).loadWeights(weightsFile, { upTo: deepest });
let t = performance.now();
const session = await ObjectiveSession.create(spec, weights, { threads });
const sessionS = (performance.now() - t) / 1000;

// Random targets of the right shapes: the cost of an evaluation does not depend on their values.
const rand = (n) => new Float32Array(n).map(() => Math.random());
session.setTargets(new Map([...session.targetShapes].map(([name, dims]) => [name, rand(dims.reduce((a, b) => a * b, 1))])));
const image = rand(3 * size * size).map((v) => 255 * v - 128);
const times = [];
for (let i = 0; i < runs + 2; i++) {
  t = performance.now();
  await session.evaluate(image);
  if (i >= 2) times.push((performance.now() - t) / 1000); // the first runs grow ORT's memory pools
}
times.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({ sPerEval: times[Math.floor(times.length / 2)], sessionS, rssMb: Math.round(process.resourceUsage().maxRSS / 1024) }) + "\n",
);
