/**
 * Print sizes: seconds per evaluation and peak RSS of the real CLI at each size, in a child process
 * each, with the memory plan it chose (one session, or windows and L-BFGS pairs). The reference is
 * one session at --reference px: the ratio column is a size's seconds per evaluation over its pixel
 * count times the reference's seconds per pixel. Seconds per evaluation: the median of all but a
 * session's first evaluation (which also sets up its memory), so --evals should be 2 or more. Optionally the default preset's whole run (wall).
 *
 *   node --import tsx bench/hires.ts [--sizes 1024,2048,4096] [--evals 3] [--reference 1024]
 *     [--max-memory 4G] [--wall 1024,2048] [--content dog] [--style scream] [--threads N]
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { arg } from "./args.js";

const shared = (p: string) => fileURLToPath(new URL(`../../shared/${p}`, import.meta.url));
const CLI = fileURLToPath(new URL("../src/cli/bin.ts", import.meta.url));
const content = shared(`images/content-${arg("--content") ?? "dog"}.jpg`);
const style = shared(`images/style-${arg("--style") ?? "scream"}.jpg`);
const sizes = (arg("--sizes") ?? "1024,2048,4096").split(",").map(Number);
const walls = (arg("--wall") ?? "").split(",").filter(Boolean).map(Number);
const evals = arg("--evals") ?? "3";
const reference = Number(arg("--reference") ?? "1024");
const maxMemory = arg("--max-memory");
const threads = arg("--threads");

interface Measured {
  size: number;
  width: number;
  height: number;
  plan: string;
  evaluations: number;
  secondsPerEval: number;
  wallS: number;
  peakRssMiB: number;
}

/** One CLI run under /usr/bin/time (peak RSS); its stderr names the plan and the seconds per evaluation. */
async function run(size: number, extra: string[], limit: string | undefined): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), "pastiche-hires-"));
  const args = [
    "-f", "%M %e", "-o", join(dir, "time.txt"),
    process.execPath, "--import", "tsx", CLI, content, style, "-o", join(dir, "out.png"),
    "--weights", shared("weights/vgg19_notop_8bit.h5"), "--size", String(size), "--progress", "json",
    ...(limit ? ["--max-memory", limit] : []), ...(threads ? ["--threads", threads] : []), ...extra,
  ];
  const child = spawn("/usr/bin/time", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const code = await new Promise<number>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`${size} px failed (exit ${code}):\n${stderr}`);
  const [rssKiB, wall] = (await readFile(join(dir, "time.txt"), "utf8")).trim().split("\n").pop()!.split(" ").map(Number);
  const events = stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
  const notes = events.filter((e) => e.event === "notice" && /windows|L-BFGS keeps|32-bit/.test(String(e.message))).map((e) => String(e.message).replace(/ to fit in memory$/, ""));
  const done = events.find((e) => e.event === "done") as { width: number; height: number; evaluations: number; seconds: number };
  // Seconds of each evaluation from the run's clock at each evaluation's end (window events excluded).
  const ends = events.filter((e) => e.event === "progress" && !e.windows).map((e) => Number(e.elapsedS));
  const each = ends.slice(1).map((t, i) => t - ends[i]);
  await rm(dir, { recursive: true, force: true });
  return {
    size,
    width: done.width,
    height: done.height,
    plan: notes.length ? [...new Set(notes)].join("; ") : "one session",
    evaluations: done.evaluations,
    // The first evaluation of a session also sets up its memory: the steady state is the median of the later ones.
    secondsPerEval: each.length ? median(each) : done.seconds / done.evaluations,
    wallS: wall,
    peakRssMiB: rssKiB / 1024,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const perEval = (size: number, limit: string | undefined) =>
  run(size, ["--scales", "1", "--iterations", "1", "--evals-per-iteration", evals, "--init", "content"], limit);

console.log(`machine: ${cpus()[0].model}, ${cpus().length} cores; content ${content}, style ${style}`);
const ref = await perEval(reference, undefined);
const refPerPixel = ref.secondsPerEval / (ref.width * ref.height);
console.log(`reference: ${ref.width}x${ref.height} in ${ref.plan}: ${ref.secondsPerEval.toFixed(2)} s/eval, peak RSS ${ref.peakRssMiB.toFixed(0)} MiB`);
console.log("");
console.log("| size | output | plan | evals | s/eval | x (pixels x reference s/px) | peak RSS MiB |");
console.log("|---|---|---|---|---|---|---|");
for (const size of sizes) {
  const m = await perEval(size, maxMemory);
  const ratio = m.secondsPerEval / (m.width * m.height * refPerPixel);
  console.log(`| ${size} | ${m.width}x${m.height} | ${m.plan} | ${m.evaluations} | ${m.secondsPerEval.toFixed(2)} | ${ratio.toFixed(2)} | ${m.peakRssMiB.toFixed(0)} |`);
}
if (walls.length) {
  console.log("");
  console.log("| size | default preset: plan | evals | wall s | peak RSS MiB |");
  console.log("|---|---|---|---|---|");
  for (const size of walls) {
    const m = await run(size, [], maxMemory);
    console.log(`| ${size} | ${m.plan} | ${m.evaluations} | ${m.wallS.toFixed(0)} | ${m.peakRssMiB.toFixed(0)} |`);
  }
}
