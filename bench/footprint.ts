/**
 * Memory footprint benchmark (issue 11): peak RSS and seconds per evaluation of a run's finest
 * scale (target extraction, then the objective session; bench/footprint-child.mjs) with ORT's
 * memory options as they were ("before": memory pattern and pre-packing on) and as the engine
 * sets them now ("after"), for VGG19 (the shared 8-bit file) and VGG16 (generated weights) at 256
 * and 512 px. Each measurement is its own child process, so its peak RSS is its own; before and
 * after run back to back, and the time ratio is the median of each round's after/before, because
 * other work on a shared machine moves the absolute seconds more than the settings do.
 *
 *   npm run build && node --import tsx bench/footprint.ts [--sizes 256,512] [--preset default] [--runs 3] [--rounds 1] [--threads N] [--json]
 *
 * A whole `pastiche` run peaks ~0.2 GB above its finest scale's figure here (decoded images, the
 * optimiser's history, sharp, what earlier scales leave in the heap); see the README's table.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LEAN_MEMORY, type OrtMemoryOptions } from "../src/engine/OnnxRuntimeCpu.js";
import type { ModelName } from "../src/backbone/Backbone.js";
import { PRESET_NAMES, type PresetName } from "../src/pipeline/Presets.js";
import { writeRandomVggH5 } from "../test/helpers/makeWeights.js";
import { arg } from "./args.js";

const CHILD = fileURLToPath(new URL("./footprint-child.mjs", import.meta.url));
const SHARED_VGG19 = fileURLToPath(new URL("../../shared/weights/vgg19_notop_8bit.h5", import.meta.url));
const SETTINGS: Record<string, OrtMemoryOptions> = {
  before: { memoryPattern: true, prepacking: true },
  after: LEAN_MEMORY,
};

interface Measurement {
  sPerEval: number;
  cpuSPerEval: number;
  rssMb: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function measure(preset: PresetName, model: ModelName, size: number, file: string, memory: OrtMemoryOptions, runs: number, threads?: number): Measurement {
  const args = [CHILD, preset, model, String(size), file, JSON.stringify(memory), String(runs), ...(threads ? [String(threads)] : [])];
  const child = spawnSync(process.execPath, args, { encoding: "utf8" });
  if (child.status !== 0) throw new Error(`footprint of ${model} at ${size} px failed:\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split("\n").pop()!) as Measurement;
}

async function main(): Promise<void> {
  if (!existsSync(fileURLToPath(new URL("../dist/engine/OnnxRuntimeCpu.js", import.meta.url)))) throw new Error("run `npm run build` first: the children measure dist/");
  const preset = (arg("--preset") ?? "default") as PresetName;
  if (!PRESET_NAMES.includes(preset)) throw new Error(`--preset must be one of ${PRESET_NAMES.join(", ")}`);
  const sizes = (arg("--sizes") ?? "256,512").split(",").map(Number);
  const runs = Number(arg("--runs") ?? 3);
  const rounds = Number(arg("--rounds") ?? 1);
  const threads = arg("--threads") ? Number(arg("--threads")) : undefined;
  const json = process.argv.includes("--json");
  const out = (line: string) => process.stdout.write(line + "\n");

  const tmp = await mkdtemp(path.join(os.tmpdir(), "pastiche-footprint-"));
  try {
    const configs: [ModelName, string][] = [];
    if (existsSync(SHARED_VGG19)) configs.push(["vgg19", SHARED_VGG19]);
    else process.stderr.write(`VGG19 skipped: ${SHARED_VGG19} not found\n`);
    const vgg16 = path.join(tmp, "vgg16-random.h5");
    await writeRandomVggH5(vgg16, "vgg16", { seed: 1 });
    configs.push(["vgg16", vgg16]);

    if (!json) {
      out(`preset ${preset}, square images; ${runs} timed evaluations per child, ${rounds} round(s); ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"})`);
      out("model  size  settings  s/eval  CPU s/eval  peak RSS MB");
    }
    const summary: string[] = [];
    for (const [model, file] of configs) {
      for (const size of sizes) {
        const rows: Record<string, Measurement[]> = { before: [], after: [] };
        for (let r = 0; r < rounds; r++) {
          for (const name of Object.keys(SETTINGS)) {
            const m = measure(preset, model, size, file, SETTINGS[name], runs, threads);
            rows[name].push(m);
            out(
              json
                ? JSON.stringify({ preset, model, size, settings: name, ...SETTINGS[name], ...m })
                : `${model.padEnd(6)} ${String(size).padStart(4)}  ${name.padEnd(8)}  ${m.sPerEval.toFixed(3).padStart(6)}  ${m.cpuSPerEval.toFixed(3).padStart(10)}  ${String(m.rssMb).padStart(11)}`,
            );
          }
        }
        const ratio = (key: keyof Measurement) => median(rows.after.map((a, r) => a[key] / rows.before[r][key]));
        summary.push(
          `${model} ${size} px: peak RSS ${median(rows.before.map((m) => m.rssMb))} -> ${median(rows.after.map((m) => m.rssMb))} MB (x${ratio("rssMb").toFixed(2)}), ` +
            `time per evaluation x${ratio("sPerEval").toFixed(2)} (CPU time x${ratio("cpuSPerEval").toFixed(2)})`,
        );
      }
    }
    if (!json) for (const line of ["", "after / before:", ...summary]) out(line);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
