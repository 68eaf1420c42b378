/**
 * The seed pipeline end to end: the real `pastiche` CLI in a child process, on small images so a
 * run takes seconds. Covers finished runs (size, report, determinism, checkpoints, formats), bad
 * input (exit 2, a message with the fix, nothing written), Ctrl-C, --help and a non-finite loss.
 */
import { estimateRunBytes, planRun } from "../src/pipeline/MemoryBudget.js";
import { PRESETS } from "../src/pipeline/Presets.js";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { blackPng } from "./helpers/blackPng.js";
import { writeRandomVggH5, writeTruncatedCopy } from "./helpers/makeWeights.js";
import { assertExit, servedUrl, startPastiche, startProcess, type Started } from "./helpers/processes.js";
import { Client, isEnd, jobForm, postJob, readEvents } from "./helpers/serverClient.js";

const SHARED_VGG19 = fileURLToPath(new URL("../../shared/weights/vgg19_notop_8bit.h5", import.meta.url));
const DOG = fileURLToPath(new URL("../../shared/images/content-dog.jpg", import.meta.url)); // 768x576
const SCREAM = fileURLToPath(new URL("../../shared/images/style-scream.jpg", import.meta.url));

const noImages = existsSync(DOG) && existsSync(SCREAM) ? false : `the shared test images are missing (${DOG})`;
const noVgg19 = noImages || (existsSync(SHARED_VGG19) ? false : `the shared VGG19 weights are missing (${SHARED_VGG19})`);

/** The largest finite float32: ONNX Runtime computes the loss in float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

let dir: string;
let vgg16: string;
let caseCount = 0;

before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), "pastiche-cli-"));
  vgg16 = join(dir, "vgg16-random.h5");
  await writeRandomVggH5(vgg16, "vgg16", { seed: 3 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** No cache of the user's is touched. */
const start = (args: string[]) => startPastiche(args, { PASTICHE_CACHE: join(dir, "cache") });
const pastiche = (...args: string[]) => start(args).exit;

/** A fresh, empty folder for one run's outputs. */
async function caseDir(): Promise<string> {
  const d = join(dir, `case-${++caseCount}`);
  await mkdir(d);
  return d;
}

async function size(file: string): Promise<[number, number, string | undefined]> {
  const m = await sharp(file).metadata();
  return [m.width, m.height, m.format];
}

interface Report {
  settings: Record<string, unknown>;
  weights: { path: string; md5: string; catalogued: boolean };
  machine: { cpu: string; cores: number; memoryGb: number; platform: string; node: string };
  output: { width: number; height: number; format: string };
  finalLoss: number;
  evaluations: { loss: number; terms: Record<string, number>; seconds: number }[];
}

const readReport = async (file: string) => JSON.parse(await readFile(file, "utf8")) as Report;

describe("finished runs", () => {
  test("shared 8-bit VGG19: output at --size with the content's aspect, the loss falls, the report is complete", { skip: noVgg19 }, async () => {
    const out = await caseDir();
    const output = join(out, "dog.png");
    const report = join(out, "run.json");
    const r = await pastiche(DOG, SCREAM, "-o", output, "--model", "vgg19", "--weights", SHARED_VGG19, "--size", "48", "--iterations", "2", "--evals-per-iteration", "4", "--report", report);
    assertExit(r, 0);
    assert.deepEqual(await size(output), [48, 36, "png"]);
    assert.match(r.stderr, /wrote .*dog\.png \(48x36\)/);

    const rep = await readReport(report);
    assert.equal(rep.settings.model, "vgg19");
    assert.equal(rep.settings.size, 48);
    assert.equal(rep.settings.iterations, 2);
    assert.equal(rep.settings.evalsPerIteration, 4);
    assert.equal(rep.weights.path, SHARED_VGG19);
    assert.equal(rep.weights.md5, createHash("md5").update(await readFile(SHARED_VGG19)).digest("hex"));
    assert.equal(rep.machine.cores, os.cpus().length);
    assert.equal(rep.machine.node, process.version);
    assert.ok(rep.machine.cpu.length > 0 && rep.machine.platform.length > 0);
    assert.deepEqual(rep.output, { width: 48, height: 36, format: "png" });

    const evals = rep.evaluations;
    assert.equal(evals.length, 8);
    for (const e of evals) {
      assert.deepEqual(Object.keys(e.terms), ["content", "style", "tv"]);
      const terms = Object.values(e.terms);
      for (const v of [e.loss, ...terms, e.seconds]) assert.ok(Number.isFinite(v) && v >= 0, JSON.stringify(e));
      assert.ok(e.seconds > 0);
      // The loss is the sum of the weighted terms (float32 rounding apart).
      assert.ok(Math.abs(e.loss - terms.reduce((a, b) => a + b, 0)) <= 1e-5 * e.loss, JSON.stringify(e));
    }
    const first = evals[0].loss;
    const last = evals[evals.length - 1].loss;
    assert.ok(last < 0.9 * first, `the loss went from ${first} to ${last}`);
    assert.equal(rep.finalLoss, Math.min(...evals.map((e) => e.loss)));
  });

  test("generated VGG16, --preset seed: size x size, --seed 7 twice gives the same bytes, --save-every 1 writes every iteration", { skip: noImages }, async () => {
    const out = await caseDir();
    const run = (name: string, ...extra: string[]) =>
      pastiche(DOG, SCREAM, "-o", join(out, name), "--preset", "seed", "--weights", vgg16, "--size", "40", "--iterations", "4", "--evals-per-iteration", "2", "--seed", "7", ...extra);
    const [a, b] = [await run("a.png", "--save-every", "1"), await run("b.png")];
    assertExit(a, 0);
    assertExit(b, 0);
    assert.deepEqual(await size(join(out, "a.png")), [40, 40, "png"]);
    assert.ok((await readFile(join(out, "a.png"))).equals(await readFile(join(out, "b.png"))), "--seed 7 twice gave different images");
    const checkpoints = ["a-0001.png", "a-0002.png", "a-0003.png", "a-0004.png"];
    assert.deepEqual((await readdir(out)).sort(), [...checkpoints, "a.png", "b.png"]);
    for (const f of checkpoints) assert.deepEqual(await size(join(out, f)), [40, 40, "png"]);
    // Each file holds its own iteration's image: the last one is the result.
    assert.ok((await readFile(join(out, "a-0004.png"))).equals(await readFile(join(out, "a.png"))));
    assert.ok(!(await readFile(join(out, "a-0001.png"))).equals(await readFile(join(out, "a.png"))));
  });

  test("the format follows the extension: .jpg (with --square) and .webp", { skip: noImages }, async () => {
    const out = await caseDir();
    const common = ["--model", "vgg16", "--weights", vgg16, "--size", "32", "--iterations", "1", "--evals-per-iteration", "2"];
    assertExit(await pastiche(DOG, SCREAM, "-o", join(out, "o.jpg"), "--square", ...common), 0);
    assertExit(await pastiche(DOG, SCREAM, "-o", join(out, "o.webp"), ...common), 0);
    assert.deepEqual(await size(join(out, "o.jpg")), [32, 32, "jpeg"]);
    assert.deepEqual(await size(join(out, "o.webp")), [32, 24, "webp"]);
  });
});

describe("bad input: exit 2, the problem and the fix on stderr, nothing written", { concurrency: 2 }, () => {
  let inputs: string;
  let content: string;
  let style: string;
  before(async () => {
    inputs = join(dir, "inputs");
    await mkdir(join(inputs, "folder.png"), { recursive: true });
    const noise = (w: number, h: number) => sharp(Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 2654435761) >>> 24), { raw: { width: w, height: h, channels: 3 } });
    content = join(inputs, "content.png");
    style = join(inputs, "style.png");
    await noise(64, 48).png().toFile(content);
    await noise(40, 40).png().toFile(style);
    // Noise keeps the JPEG's entropy-coded data long, so cutting it in half cuts pixels, not headers.
    const jpeg = await noise(256, 256).jpeg().toBuffer();
    await writeFile(join(inputs, "truncated.jpg"), jpeg.subarray(0, jpeg.length >> 1));
    await writeFile(join(inputs, "text.png"), "this is not an image\n");
    await writeFile(join(inputs, "empty.png"), "");
    await writeFile(join(inputs, "bomb.png"), blackPng(60000, 60000));
    await noise(1000, 10).png().toFile(join(inputs, "strip.png"));
    await writeTruncatedCopy(vgg16, join(inputs, "truncated.h5"), 10_000_000);
  });

  interface Case {
    name: string;
    /** The arguments before "-o <out> --report <dir>/run.json"; `inp(f)` is the path of an input fixture. */
    args: (inp: (f: string) => string) => string[];
    /** Fragments stderr must contain: the problem and the fix. */
    says: string[];
    output?: string;
  }
  const run = (...more: string[]) => (inp: (f: string) => string) => [inp("content.png"), inp("style.png"), "--model", "vgg16", "--weights", vgg16, "--size", "32", "--iterations", "1", ...more];
  const withContent = (file: string, ...more: string[]) => (inp: (f: string) => string) => [inp(file), inp("style.png"), "--model", "vgg16", "--weights", vgg16, "--size", "32", ...more];
  const cases: Case[] = [
    { name: "content file missing", args: withContent("absent.png"), says: ["absent.png", "does not exist", "check the path"] },
    { name: "content is a folder", args: withContent("folder.png"), says: ["is a folder", "give the path of an image file"] },
    { name: "text file named .png", args: withContent("text.png"), says: ["text.png", "not an image", "JPEG, PNG"] },
    { name: "truncated JPEG", args: withContent("truncated.jpg"), says: ["truncated.jpg", "truncated or corrupt", "re-export"] },
    { name: "empty file", args: withContent("empty.png"), says: ["empty.png", "empty (0 bytes)", "re-export"] },
    { name: "60000x60000 PNG bomb", args: withContent("bomb.png"), says: ["bomb.png", "60000x60000", "--max-input-pixels"] },
    { name: "1000x10 content: too small for the network", args: withContent("strip.png"), says: ["32x1", "at least 16 px", "raise --size"] },
    { name: "--size 8", args: run("--size", "8"), says: ["size", "from 16", "got 8"] },
    { name: "--size 0", args: run("--size", "0"), says: ["size", "from 16", "got 0"] },
    { name: "--iterations -1", args: run("--iterations", "-1"), says: ["iterations", "whole number from 1", "got -1"] },
    { name: "--iterations abc", args: run("--iterations", "abc"), says: ["--iterations needs a number", '"abc"', "--help"] },
    { name: "unknown layer in --style-layers", args: run("--style-layers", "block1_conv1,block9_conv9"), says: ['unknown layer "block9_conv9"', "known layers: block1_conv1"] },
    { name: "unknown --model", args: run("--model", "vgg99"), says: ["vgg99", "vgg16, vgg19"] },
    { name: "layer weights summing to 0", args: run("--style-layers", "block1_conv1:0"), says: ["sum to 0", "positive weight"] },
    { name: "--style-blend with the wrong count", args: run("--style-blend", "1,2"), says: ["2 weights for 1 style images", "one per style image"] },
    { name: "unknown --preset", args: run("--preset", "nope"), says: ["nope", "seed, gatys, default"] },
    { name: "--tv-power 0.5", args: run("--tv-power", "0.5"), says: ["TV power", "from 1 to 4", "0.5"] },
    { name: "output folder missing", args: run(), output: join("missing", "out.png"), says: ["does not exist", "create it first"] },
    { name: "unsupported output extension", args: run(), output: "out.bmp", says: ["out.bmp", "must end in .png, .jpg, .jpeg, .webp"] },
    { name: "--size 8192 with --max-memory 8G", args: run("--size", "8192", "--max-memory", "8G"), says: ["8192 px", "of memory", "8.0 GiB this run may use", "use --size"] },
    { name: "--max-memory 900M with --size 1024: too little even in windows", args: run("--size", "1024", "--max-memory", "900M"), says: ["1024 px", "900.0 MiB this run may use", "use --size"] },
    { name: "--max-memory abc", args: run("--max-memory", "abc"), says: ["--max-memory needs a size such as 8G", '"abc"'] },
    { name: "weights file missing", args: (inp) => [...run()(inp), "--weights", inp("absent.h5")], says: ["absent.h5", "not found", "omit --weights"] },
    { name: "weights file truncated", args: (inp) => [...run()(inp), "--weights", inp("truncated.h5")], says: ["truncated.h5", "incomplete", "--weights"] },
    { name: "VGG16 weights given with --model vgg19", args: run("--model", "vgg19"), says: ["VGG16 weights", "use --model vgg16"] },
    { name: "weights file not HDF5", args: (inp) => [...run()(inp), "--weights", inp("text.png")], says: ["not a readable HDF5 file", "--weights"] },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const out = await caseDir();
      const r = await pastiche(...c.args((f) => join(inputs, f)), "-o", join(out, c.output ?? "out.png"), "--report", join(out, "run.json"));
      assertExit(r, 2);
      for (const s of c.says) assert.ok(r.stderr.includes(s), `stderr should mention "${s}":\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, "no stack trace for a user error");
      // Neither the output nor the report nor a temporary file.
      assert.deepEqual(await readdir(out), []);
    });
  }
});

/** A run of 200 evaluations at 64 px (far longer than a test waits), once its first checkpoint is written. */
async function startLongRun(out: string, output: string): Promise<ReturnType<typeof start>> {
  const run = start([DOG, SCREAM, "-o", output, "--model", "vgg16", "--weights", vgg16, "--size", "64", "--scales", "1", "--iterations", "40", "--evals-per-iteration", "5", "--save-every", "1"]);
  const deadline = Date.now() + 90_000;
  while (!existsSync(join(out, "out-0001.png"))) {
    if (Date.now() > deadline || run.child.exitCode !== null) assert.fail(`no checkpoint appeared (exit code ${run.child.exitCode})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return run;
}

test("Ctrl-C: exit 130 within seconds, no output, the last checkpoint is a whole PNG", { skip: noImages }, async () => {
  const out = await caseDir();
  const output = join(out, "out.png");
  const { child, exit } = await startLongRun(out, output);
  const sent = performance.now();
  child.kill("SIGINT");
  const r = await exit;
  const seconds = (performance.now() - sent) / 1000;
  assertExit(r, 130);
  assert.ok(seconds < 5, `took ${seconds.toFixed(1)} s to stop`);
  assert.match(r.stderr, /cancelled; nothing was written to .*out\.png \(the last checkpoint is .*out-\d{4}\.png\)/);

  const files = (await readdir(out)).sort();
  assert.ok(!files.includes("out.png"), "the final output was written");
  assert.ok(files.every((f) => /^out-\d{4}\.png$/.test(f)), `unexpected files: ${files.join(", ")}`);
  const last = files[files.length - 1];
  assert.ok(r.stderr.includes(last), `the message should name ${last}`);
  const { info } = await sharp(join(out, last)).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [64, 48]);
});

test("SIGTERM: exit 143, no output", { skip: noImages }, async () => {
  const out = await caseDir();
  const output = join(out, "out.png");
  const { child, exit } = await startLongRun(out, output);
  child.kill("SIGTERM");
  const r = await exit;
  assertExit(r, 143);
  assert.match(r.stderr, /cancelled; nothing was written to .*out\.png/);
  assert.ok(!existsSync(output));
});

test("--report naming a folder: exit 2 before the run, nothing written", { skip: noImages }, async () => {
  const out = await caseDir();
  await mkdir(join(out, "run.json"));
  const r = await pastiche(DOG, SCREAM, "-o", join(out, "out.png"), "--model", "vgg16", "--weights", vgg16, "--size", "32", "--iterations", "1", "--report", join(out, "run.json"));
  assertExit(r, 2);
  assert.match(r.stderr, /run\.json": a folder is in the way/);
  assert.deepEqual(await readdir(out), ["run.json"], "the image was written although the report cannot be");
});

test("npx in the project: no npm warning about the project's configuration", async () => {
  const r = await startProcess("npx", ["--no-install", "tsx", "src/cli/bin.ts", "--help"]).exit;
  assertExit(r, 0);
  assert.match(r.stdout, /Usage: pastiche/);
  assert.equal(r.stderr, "", "npx printed warnings");
});

test("--help exits 0 and shows every option's default", async () => {
  const r = await pastiche("--help");
  assertExit(r, 0);
  // Commander wraps to the terminal width; compare with the wrapping undone.
  const help = r.stdout.replace(/\s+/g, " ");
  const described = (option: string) => {
    const at = help.indexOf(` ${option} `);
    assert.ok(at >= 0, `--help does not list ${option}`);
    const next = help.slice(at + option.length + 2).search(/ (-[a-z], )?--[a-z]/);
    return help.slice(at, next < 0 ? undefined : at + option.length + 2 + next);
  };
  const defaults: Record<string, string> = {
    "--preset": 'default: "default"',
    "--size": "seed 500; gatys 512; default 512",
    "--style-weight": `seed 4.5; gatys ${PRESETS.gatys.styleWeight}; default ${PRESETS.default.styleWeight}`,
    "--iterations": `seed 10; gatys ${PRESETS.gatys.iterations}; default ${PRESETS.default.iterations}`,
    "--scales": "seed 1; gatys 1; default auto",
    "--model": "seed vgg16; gatys vgg19; default vgg19",
    "--optimizer": "default: lbfgs",
    "--tv-power": "default: 1.25",
    "--seed": "default: 0",
    "--max-input-pixels": "default: 100000000",
  };
  for (const [option, text] of Object.entries(defaults)) assert.ok(described(option).includes(text), `${option} should show "${text}": ${described(option)}`);
  // Options that are files, switches or off unless given have no default to show.
  const noDefault = new Set(["--output", "--square", "--init-image", "--mask", "--save-every", "--report", "--weights", "--quiet", "--help", "--version"]);
  const options = [...new Set(help.match(/ --[a-z-]+(?= )/g)!.map((o) => o.trim()))];
  assert.ok(options.length > 25, options.join(" "));
  for (const option of options) {
    if (!noDefault.has(option)) assert.match(described(option), /default/, `${option} shows no default`);
  }
});

test("--size too large for --max-memory: exit 2 at once, naming the largest size that fits", { skip: noImages }, async () => {
  const out = await caseDir();
  const started = performance.now();
  const r = await pastiche(DOG, SCREAM, "-o", join(out, "out.png"), "--weights", vgg16, "--model", "vgg16", "--size", "4096", "--max-memory", "3G");
  assertExit(r, 2);
  assert.ok(performance.now() - started < 30_000, "refused only after working");
  const fits = Number(/use --size (\d+) or less/.exec(r.stderr)?.[1]);
  const inputs = await Promise.all([DOG, SCREAM].map(async (f) => sharp(f).metadata()));
  const fitsIn3G = (size: number) => planRun({ preset: "default", size, inputs }, 3 * 2 ** 30) !== undefined;
  assert.ok(fitsIn3G(fits) && !fitsIn3G(fits + 1), `${fits} px is not the largest size that fits:\n${r.stderr}`);
  assert.deepEqual(await readdir(out), []);
});

test("--coarse-factor below 1 leaves every coarse scale at least one evaluation", { skip: noImages }, async () => {
  const out = await caseDir();
  const r = await pastiche(DOG, SCREAM, "-o", join(out, "out.png"), "--weights", vgg16, "--model", "vgg16", "--size", "64", "--scales", "3", "--evals-per-iteration", "1", "--coarse-factor", "0.5", "--report", join(out, "r.json"));
  assertExit(r, 0);
  const report = JSON.parse(await readFile(join(out, "r.json"), "utf8")) as { evaluations: { scale: number }[] };
  assert.deepEqual([...new Set(report.evaluations.map((e) => e.scale))], [0, 1, 2]);
});

test("a run too large for --max-memory keeps float32 vectors, then windows, and windows paint the same picture", { skip: noImages }, async () => {
  const out = await caseDir();
  const inputs = await Promise.all([DOG, SCREAM].map(async (f) => sharp(f).metadata()));
  const shape = { preset: "default" as const, size: 512, inputs };
  // Just below what one session with float64 vectors needs: float32 vectors; just below that: windows.
  const float32Budget = estimateRunBytes(shape) - 2 ** 20;
  const compact = planRun(shape, float32Budget);
  assert.equal(compact?.precision, "float32");
  assert.equal(compact.windowPixels, undefined);
  const windowBudget = compact.bytes - 2 ** 20;
  assert.ok(planRun(shape, windowBudget)?.windowPixels, "the memory plan has no windows just below the float32 estimate");
  const args = (file: string, budget?: number) => [
    ...[DOG, SCREAM, "-o", join(out, file), "--weights", vgg16, "--model", "vgg16", "--size", "512", "--scales", "1", "--evals-per-iteration", "2"],
    ...(budget === undefined ? [] : ["--max-memory", `${Math.floor(budget / 2 ** 20)}M`]),
  ];
  const whole = await pastiche(...args("whole.png"));
  assertExit(whole, 0);
  assert.doesNotMatch(whole.stderr, /windows|32-bit/);
  const float32 = await pastiche(...args("float32.png", float32Budget));
  assertExit(float32, 0);
  assert.match(float32.stderr, /the optimiser keeps its images in 32-bit floats \(not 64\) to fit in memory/);
  assert.doesNotMatch(float32.stderr, /windows/);
  const tiled = await pastiche(...args("tiled.png", windowBudget));
  assertExit(tiled, 0);
  assert.match(tiled.stderr, /512x384 is evaluated in \d+ windows of \d+x\d+ to fit in memory/);
  assert.deepEqual(await readFile(join(out, "tiled.png")), await readFile(join(out, "float32.png")));
  // Float32 vectors change the picture only by rounding.
  const [a, b] = await Promise.all(["whole.png", "float32.png"].map(async (f) => sharp(join(out, f)).raw().toBuffer()));
  let differences = 0;
  for (let i = 0; i < a.length; i++) differences += Math.abs(a[i] - b[i]);
  assert.ok(differences / a.length < 0.5, `mean difference ${differences / a.length} levels`);
});

describe("a loss that is not finite", { skip: noImages }, () => {
  test("from the first evaluation: exit 2, the fix, no output", async () => {
    const out = await caseDir();
    // The gatys preset's per-layer normalisation: the default's balanced one keeps this style loss finite.
    const r = await pastiche(DOG, SCREAM, "-o", join(out, "out.png"), "--preset", "gatys", "--model", "vgg16", "--weights", vgg16, "--size", "32", "--iterations", "2", "--evals-per-iteration", "3", "--style-weight", "1e38", "--save-every", "1");
    assertExit(r, 2);
    assert.match(r.stderr, /not finite/);
    assert.match(r.stderr, /nothing was written to .*out\.png: lower --content-weight, --style-weight/);
    assert.deepEqual(await readdir(out), []);
  });

  test("after a checkpoint: exit 2 and the last good image is the output", async () => {
    // A deep content layer floors to relatively more activations at the finer scale (block5 of
    // 45x34 is 2x2, of 64x48 it is 4x3), so from the style image the content loss jumps when the
    // scale changes, and a content weight that keeps the coarse scale just below float32's maximum
    // overflows at the finer one. Measured first at weight 1.
    // The gatys preset: the same evaluations at every scale (the default gives coarser scales more).
    const args = [DOG, SCREAM, "--preset", "gatys", "--model", "vgg16", "--weights", vgg16, "--size", "64", "--scales", "2", "--init", "style", "--content-layers", "block5_conv1", "--iterations", "1", "--evals-per-iteration", "3", "--style-weight", "0", "--tv-weight", "0"];
    const out = await caseDir();
    assertExit(await pastiche(...args, "-o", join(out, "probe.png"), "--report", join(out, "probe.json")), 0);
    const losses = (await readReport(join(out, "probe.json"))).evaluations.map((e) => e.loss);
    assert.equal(losses.length, 6);
    const coarseMax = Math.max(...losses.slice(0, 3));
    const fineFirst = losses[3];
    assert.ok(fineFirst > 1.2 * coarseMax, `the fine scale's loss ${fineFirst} is not well above the coarse ${coarseMax}`);
    const weight = FLOAT32_MAX / Math.sqrt(coarseMax * fineFirst);

    const output = join(out, "out.png");
    const r = await pastiche(...args, "-o", output, "--save-every", "1", "--content-weight", String(weight));
    assertExit(r, 2);
    assert.match(r.stderr, /not finite/);
    const m = /wrote the last good image \(after iteration 1, (\d+)x(\d+)\) to .*out\.png: lower --content-weight/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.deepEqual(await size(output), [Number(m[1]), Number(m[2]), "png"]);
    // It is the coarse scale's result, the very image of the first checkpoint.
    assert.ok((await readFile(output)).equals(await readFile(join(out, "out-0001.png"))));
    assert.deepEqual((await readdir(out)).sort(), ["out-0001.png", "out.png", "probe.json", "probe.png"]);
  });
});

test("without -o: exit 2, the problem and the fix", async () => {
  const r = await pastiche("content.png", "style.png");
  assertExit(r, 2);
  assert.match(r.stderr, /no output file: add -o out\.png/);
});

/** Starts `pastiche serve` and waits for the address it prints. */
async function startServe(args: string[]): Promise<Started & { url: string }> {
  const served = start(["serve", "--port", "0", ...args]);
  return { ...served, url: await servedUrl(served) };
}

test("serve: answers on 127.0.0.1 and shuts down on SIGTERM", async () => {
  const { child, exit, url } = await startServe([]);
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/);
  child.kill("SIGTERM");
  assertExit(await exit, 0);
});

test("serve --weights --model --threads: its own options reach the server, a small job ends done offline", { skip: noVgg19 }, async () => {
  // The cache is empty and nothing may be downloaded: only --weights can make the job run.
  const { child, exit, url } = await startServe(["--weights", SHARED_VGG19, "--model", "vgg19", "--threads", "1"]);
  try {
    const client = new Client(new URL(url).origin);
    const form = jobForm(
      [
        { name: "content", bytes: await readFile(DOG) },
        { name: "style", bytes: await readFile(SCREAM) },
      ],
      { preset: "gatys", size: "48", iterations: "1", evalsPerIteration: "4" },
    );
    const created = await postJob(client, form);
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const events = await readEvents(client, `/api/jobs/${created.body.id}/events`, isEnd, 120_000);
    const end = events.at(-1)!;
    assert.equal(end.event, "done", JSON.stringify(end.data.error));
    assert.equal(Math.max(end.data.result.width, end.data.result.height), 48);
    assert.deepEqual(await readdir(join(dir, "cache")).catch(() => []), [], "nothing was downloaded");
  } finally {
    child.kill("SIGTERM");
    assertExit(await exit, 0);
  }
});

test("serve --token: the printed address carries it, and requests without it are refused", async () => {
  const token = "a-token-of-twenty-chars";
  const { child, exit, url } = await startServe(["--token", token]);
  try {
    assert.equal(new URL(url).searchParams.get("token"), token);
    assert.equal((await fetch(new URL(url).origin + "/api/config")).status, 401);
    assert.equal((await fetch(url, { redirect: "manual" })).status, 303);
  } finally {
    child.kill("SIGTERM");
    assertExit(await exit, 0);
  }
});

test("serve on a non-loopback address with a short --token: exit 2 before binding", async () => {
  const r = await pastiche("serve", "--host", "0.0.0.0", "--port", "0", "--token", "short");
  assertExit(r, 2);
  assert.match(r.stderr, /access token must have at least 16 characters/);
});
