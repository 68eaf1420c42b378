/**
 * The target command timed end to end, as a user runs it (a fresh process, start-up and
 * weight loading included):
 *
 *   pastiche content-astronaut.png style-starry-night.jpg --preset seed --model vgg19 --weights <shared> --size 256
 *
 * Target: <= 60 s wall clock. The run's --report splits the time into evaluations and the rest.
 *
 *   node --import tsx bench/seed-run.ts [--bin] [--out-dir DIR] [--json]
 *
 * By default the CLI runs from src/ through tsx, so it measures the tree as it is now; --bin runs
 * bin/pastiche.js instead, i.e. the build in dist/ (run `npm run build` first). The output image and
 * report stay in the output directory (a new temp directory unless --out-dir) for a person to look at.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { arg } from "./args.js";

const shared = (file: string) => fileURLToPath(new URL(`../../shared/${file}`, import.meta.url));
const BIN = fileURLToPath(new URL("../bin/pastiche.js", import.meta.url));
const TARGET_S = 60;
/** Marks the child mode: everything after it is the pastiche command line. */
const CLI_MARKER = "--cli";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Child mode: the CLI from source. Imported lazily so the parent does not pay for loading it. */
async function runCliFromSource(args: string[]): Promise<void> {
  const { main } = await import("../src/cli/main.js");
  process.exitCode = await main(["node", "pastiche", ...args]);
}

function timeCommand(command: string, args: string[]): Promise<{ code: number | null; seconds: number }> {
  const started = performance.now();
  // The CLI's own output goes to our stderr, so that --json leaves stdout as one JSON object.
  const child = spawn(command, args, { stdio: ["ignore", process.stderr, "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, seconds: (performance.now() - started) / 1000 }));
  });
}

async function main(): Promise<void> {
  const marker = process.argv.indexOf(CLI_MARKER);
  if (marker >= 0) return runCliFromSource(process.argv.slice(marker + 1));

  const json = process.argv.includes("--json");
  const useBin = process.argv.includes("--bin");
  const outDir = arg("--out-dir") ?? (await mkdtemp(path.join(os.tmpdir(), "pastiche-seed-run-")));
  await mkdir(outDir, { recursive: true });
  const output = path.resolve(outDir, "astronaut-starry-seed-vgg19-256.png");
  const reportFile = path.resolve(outDir, "report.json");

  const cliArgs = [
    shared("images/content-astronaut.png"),
    shared("images/style-starry-night.jpg"),
    "--preset", "seed",
    "--model", "vgg19",
    "--weights", shared("weights/vgg19_notop_8bit.h5"),
    "--size", "256",
    "-o", output,
    "--report", reportFile,
  ];
  const [command, args] = useBin
    ? [process.execPath, [BIN, ...cliArgs]]
    : [process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), CLI_MARKER, ...cliArgs]];

  const loadBefore = os.loadavg();
  const { code, seconds: wallS } = await timeCommand(command, args);
  const loadAfter = os.loadavg();
  if (code !== 0) throw new Error(`pastiche exited with ${code}; command: ${command} ${args.join(" ")}`);

  const report = JSON.parse(await readFile(reportFile, "utf8")) as { evaluations: { seconds: number }[]; finalLoss: number };
  const evalSeconds = report.evaluations.map((e) => e.seconds);
  const evalS = evalSeconds.reduce((a, b) => a + b, 0);
  const result = {
    runner: useBin ? "bin/pastiche.js (dist)" : "src via tsx",
    wallS,
    evaluations: evalSeconds.length,
    evalS,
    outsideEvalS: wallS - evalS,
    medianSPerEval: median(evalSeconds),
    finalLoss: report.finalLoss,
    targetS: TARGET_S,
    pass: wallS <= TARGET_S,
    output,
    report: reportFile,
    cores: os.cpus().length,
    loadBefore,
    loadAfter,
  };
  if (json) {
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(" ");
  process.stdout.write(
    [
      `runner: ${result.runner}`,
      `wall clock:            ${wallS.toFixed(1)} s  (target <= ${TARGET_S} s: ${result.pass ? "PASS" : "FAIL"})`,
      `evaluations:           ${result.evaluations}`,
      `in evaluations:        ${evalS.toFixed(1)} s  (median ${result.medianSPerEval.toFixed(3)} s/eval)`,
      `outside evaluations:   ${result.outsideEvalS.toFixed(1)} s  (start-up, weights, sessions, targets, encoding)`,
      `final loss:            ${report.finalLoss.toExponential(4)}`,
      `output image:          ${output}`,
      `report:                ${reportFile}`,
      `load average before ${load(loadBefore)}, after ${load(loadAfter)} (${result.cores} cores)`,
    ].join("\n") + "\n",
  );
}

await main();
