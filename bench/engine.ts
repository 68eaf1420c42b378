/**
 * Engine benchmark: seconds per loss+gradient evaluation of the seed objective for VGG16 (generated
 * weights) and VGG19 (the shared 8-bit file) at 256 and 512 px, with session-creation time, peak
 * RSS, achieved GFLOP/s and that as a fraction of ORT's large-MatMul rate measured in the same run.
 *
 *   npm run bench [-- --json] [-- --sizes 256,512] [-- --threads N] [-- --runs 5]
 *
 * Each configuration runs in its own child process (bench/engine-child.mjs, on the build in dist/)
 * so that its peak RSS is its own.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ort from "onnxruntime-node";
import { GraphBuilder } from "../src/graph/GraphBuilder.js";
import { termLayers } from "../src/objective/LossTerms.js";
import type { ObjectiveSpec } from "../src/objective/ObjectiveSpec.js";
import { deepestLayer } from "../src/objective/ObjectiveGraph.js";
import { backboneFor, type ModelName } from "../src/backbone/Backbone.js";
import { PRESETS } from "../src/pipeline/Presets.js";
import { writeRandomVggH5 } from "../test/helpers/makeWeights.js";
import { arg } from "./args.js";

const CHILD = fileURLToPath(new URL("./engine-child.mjs", import.meta.url));
const SHARED_VGG19 = fileURLToPath(new URL("../../shared/weights/vgg19_notop_8bit.h5", import.meta.url));

interface Row {
  model: ModelName;
  size: number;
  sPerEval: number;
  sessionS: number;
  rssMb: number;
  gflops: number;
  gemmFraction: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function seedSpec(model: ModelName, size: number): ObjectiveSpec {
  const p = PRESETS.seed;
  return { ...p, model, height: size, width: size };
}

/** Multiply-adds x2 of one evaluation: forward convs, backward-input convs, Gram and its backward. */
export function flopsPerEvaluation(spec: ObjectiveSpec): number {
  const styleLayers = new Set(spec.styleLayers.map((l) => l.layer));
  const backbone = backboneFor(spec.model);
  let flops = 0;
  for (const layer of backbone.layersThrough(deepestLayer(spec.model, termLayers(spec)))) {
    if (layer.kind === "pool") continue;
    const { width: w, height: h } = backbone.featureSize(spec, layer.name);
    flops += 2 * 2 * 9 * layer.inChannels * layer.outChannels * h * w;
    if (styleLayers.has(layer.name)) flops += 2 * 2 * layer.outChannels ** 2 * h * w;
  }
  return flops;
}

async function matmulGflops(threads: number | undefined): Promise<number> {
  const n = 2048;
  const g = new GraphBuilder();
  g.output("c", g.op("MatMul", [g.input("a", [n, n]), g.input("b", [n, n])]), [n, n]);
  const session = await ort.InferenceSession.create(g.toBytes(), threads ? { intraOpNumThreads: threads } : {});
  const data = new Float32Array(n * n).map((_, i) => (i % 17) / 17);
  const feeds = { a: new ort.Tensor("float32", data, [n, n]), b: new ort.Tensor("float32", data, [n, n]) };
  const times: number[] = [];
  for (let i = 0; i < 8; i++) {
    const t = performance.now();
    await session.run(feeds);
    if (i >= 2) times.push((performance.now() - t) / 1000);
  }
  await session.release();
  return (2 * n ** 3) / median(times) / 1e9;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const threads = arg("--threads") ? Number(arg("--threads")) : undefined;
  const runs = Number(arg("--runs") ?? 5);
  const json = process.argv.includes("--json");
  const sizes = (arg("--sizes") ?? "256,512").split(",").map(Number);
  const gemm = await matmulGflops(threads);
  const tmp = await mkdtemp(path.join(os.tmpdir(), "pastiche-bench-"));
  try {
    const vgg16 = path.join(tmp, "vgg16-random.h5");
    await writeRandomVggH5(vgg16, "vgg16", { seed: 1 });
    const configs: [ModelName, string][] = [["vgg16", vgg16]];
    if (existsSync(SHARED_VGG19)) configs.push(["vgg19", SHARED_VGG19]);
    else process.stderr.write(`VGG19 skipped: ${SHARED_VGG19} not found\n`);
    if (!json) {
      process.stdout.write(`ORT MatMul 2048^3 rate: ${gemm.toFixed(1)} GFLOP/s; cores: ${os.cpus().length} (${os.cpus()[0]?.model ?? "?"})\n`);
      process.stdout.write("model  size  s/eval  session s  peak RSS MB  GFLOP/s  fraction of MatMul rate\n");
    }
    for (const [model, file] of configs) {
      for (const size of sizes) {
        const args = [CHILD, model, String(size), file, String(runs), ...(threads ? [String(threads)] : [])];
        const child = spawnSync(process.execPath, args, { encoding: "utf8" });
        if (child.status !== 0) throw new Error(`benchmark of ${model} at ${size} failed:\n${child.stderr}`);
        const measured = JSON.parse(child.stdout.trim().split("\n").pop()!) as { sPerEval: number; sessionS: number; rssMb: number };
        const gflops = flopsPerEvaluation(seedSpec(model, size)) / measured.sPerEval / 1e9;
        const row: Row = {
          model,
          size,
          sPerEval: round(measured.sPerEval, 3),
          sessionS: round(measured.sessionS, 2),
          rssMb: measured.rssMb,
          gflops: round(gflops, 1),
          gemmFraction: round(gflops / gemm, 2),
        };
        process.stdout.write(
          json
            ? JSON.stringify(row) + "\n"
            : `${row.model.padEnd(6)} ${String(row.size).padStart(4)}  ${row.sPerEval.toFixed(3).padStart(6)}  ${row.sessionS.toFixed(2).padStart(9)}  ${String(row.rssMb).padStart(11)}  ${row.gflops.toFixed(1).padStart(7)}  ${row.gemmFraction.toFixed(2).padStart(5)}\n`,
        );
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
