// Measurement child of bench/footprint.ts: the finest scale of a run, as src/pipeline/Stylize.ts
// does it, with the engine's memory options given: the target extractor for the content and the
// style image (released), then the objective session and its evaluations. One JSON line on stdout.
// Plain JavaScript on the built library (dist/), as a user runs it (see bench/engine-child.mjs).
//   node bench/footprint-child.mjs <preset> <model> <size> <weights.h5> <memory options JSON> <runs> [threads]
import { backboneFor } from "../dist/backbone/Backbone.js";
import { ObjectiveSession } from "../dist/engine/ObjectiveSession.js";
import { createOnnxRuntimeCpu } from "../dist/engine/OnnxRuntimeCpu.js";
import { TargetExtractor } from "../dist/engine/TargetExtractor.js";
import { termLayers } from "../dist/objective/LossTerms.js";
import { deepestLayer } from "../dist/objective/ObjectiveGraph.js";
import { PRESETS } from "../dist/pipeline/Presets.js";

const [preset, model, sizeText, weightsFile, memoryJson, runsText, threadsText] = process.argv.slice(2);
const size = Number(sizeText);
const runs = Number(runsText);
const settings = threadsText ? { threads: Number(threadsText) } : {};
const engine = createOnnxRuntimeCpu(JSON.parse(memoryJson));

const spec = { ...PRESETS[preset], model, height: size, width: size, pixelRatio: 1, styleRegions: 0 };
const weights = await backboneFor(model).loadWeights(weightsFile, { upTo: deepestLayer(model, termLayers(spec)) });
// Random pixels and targets: neither the cost nor the memory of an evaluation depends on the values.
const rand = (n) => new Float32Array(n).map(() => Math.random());
const image = () => rand(3 * size * size).map((v) => 255 * v - 128);

const extractor = await TargetExtractor.create(spec, weights, { width: size, height: size }, settings, engine);
await extractor.extract(image());
await extractor.extract(image());
await extractor.release();

const session = await ObjectiveSession.create(spec, weights, settings, "float32", engine);
session.setTargets(new Map([...session.targetShapes].map(([name, dims]) => [name, rand(dims.reduce((a, b) => a * b, 1))])));
const x = image();
const seconds = [];
const cpuSeconds = [];
for (let i = 0; i < runs + 2; i++) {
  const t = performance.now();
  const cpu = process.cpuUsage();
  await session.evaluate(x);
  const used = process.cpuUsage(cpu);
  // The first two runs grow ORT's memory (the second allocates the memory pattern's block, if any).
  if (i < 2) continue;
  seconds.push((performance.now() - t) / 1000);
  cpuSeconds.push((used.user + used.system) / 1e6);
}
await session.release();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
process.stdout.write(
  JSON.stringify({ sPerEval: median(seconds), cpuSPerEval: median(cpuSeconds), rssMb: Math.round(process.resourceUsage().maxRSS / 1024) }) + "\n",
);
