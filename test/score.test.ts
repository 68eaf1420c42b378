/**
 * The yardstick (`score()` and `pastiche score`): zero against itself, the defined errors checked
 * against TF.js features of the same images, blended styles, a photo far from a painting, and the
 * CLI with its JSON output and bad input.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs";
import { readImage } from "../src/image/ImageIO.js";
import { score, YARDSTICK } from "../src/pipeline/Score.js";
import { mulberry32 } from "../src/util/Random.js";
import { backboneFor } from "../src/backbone/Backbone.js";
import { rejectsWith } from "./helpers/assertions.js";
import { writeRandomVggH5 } from "./helpers/makeWeights.js";
import { tfjsTargets } from "./reference/TfjsObjective.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SHARED_VGG19 = fileURLToPath(new URL("../../shared/weights/vgg19_notop_8bit.h5", import.meta.url));
const DOG = fileURLToPath(new URL("../../shared/images/content-dog.jpg", import.meta.url));
const SCREAM = fileURLToPath(new URL("../../shared/images/style-scream.jpg", import.meta.url));
const noShared = existsSync(SHARED_VGG19) && existsSync(DOG) && existsSync(SCREAM) ? false : "the shared VGG19 weights or images are missing";

let dir: string;
let weights: string;
const png = (name: string) => join(dir, `${name}.png`);

/** Smooth random colour fields (a few blobs), so that the features are not pure noise. */
async function writeImage(name: string, width: number, height: number, seed: number): Promise<void> {
  const rand = mulberry32(seed);
  const blobs = Array.from({ length: 4 }, () => ({ x: rand() * width, y: rand() * height, c: [rand(), rand(), rand()].map((v) => 255 * v) }));
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const w = blobs.map((b) => 1 / (1 + (x - b.x) ** 2 + (y - b.y) ** 2));
      const total = w.reduce((a, b) => a + b, 0);
      for (let ch = 0; ch < 3; ch++) data[3 * (y * width + x) + ch] = Math.round(blobs.reduce((s, b, i) => s + (w[i] / total) * b.c[ch], 0));
    }
  }
  await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(png(name));
}

before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), "pastiche-score-"));
  weights = join(dir, "vgg19-random.h5");
  await writeRandomVggH5(weights, "vgg19", { seed: 5 });
  await writeImage("a", 48, 32, 1);
  await writeImage("b", 48, 32, 2);
  await writeImage("c", 48, 32, 3);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("an image scores 0 against itself as content and style", async () => {
  const [s] = await score({ content: png("a"), styles: [png("a")], images: [png("a")], weights });
  assert.equal(s.content, 0);
  assert.equal(s.styleMean, 0);
  for (const layer of YARDSTICK.styleLayers) assert.equal(s.style[layer], 0);
});

test("the errors are the defined ones: per-pixel Gram error to the blended styles, feature error to the photo (TF.js features)", async () => {
  const [s] = await score({ content: png("b"), styles: [png("a"), png("c")], styleBlend: [1, 3], images: [png("a")], weights });
  const vgg = await backboneFor("vgg19").loadWeights(weights, { upTo: "block5_conv1" });
  const spec = {
    model: "vgg19" as const,
    height: 32,
    width: 48,
    contentLayers: [{ layer: YARDSTICK.contentLayer, weight: 1 }],
    styleLayers: YARDSTICK.styleLayers.map((layer) => ({ layer, weight: 1 })),
    contentWeight: 1,
    styleWeight: 1,
    tvWeight: 0,
    tvPower: 1,
    normalization: "gatys" as const,
    pooling: "max" as const,
  };
  const caffe = async (name: string) => backboneFor("vgg19").toInput(await readImage(png(name), { maxPixels: 1e6 }));
  const [a, b, c] = [await caffe("a"), await caffe("b"), await caffe("c")];
  const ofA = await tfjsTargets(spec, vgg, a, a);
  const ofB = await tfjsTargets(spec, vgg, b, c);
  const ofC = await tfjsTargets(spec, vgg, c, c);
  for (const layer of YARDSTICK.styleLayers) {
    // Per-pixel normalisation cancels in a relative error between images of one size.
    const g = ofA.grams.get(layer)!;
    const gc = ofC.grams.get(layer)!;
    let num = 0;
    let den = 0;
    for (let j = 0; j < g.length; j++) {
      const target = 0.25 * g[j] + 0.75 * gc[j];
      num += (g[j] - target) ** 2;
      den += target ** 2;
    }
    const expected = Math.sqrt(num / den);
    assert.ok(expected > 0.01, `${layer}: the case must not be trivial (${expected})`);
    assert.ok(Math.abs(s.style[layer] - expected) <= 1e-4 * expected, `${layer}: ${s.style[layer]} vs ${expected}`);
  }
  const fa = ofA.content.get(YARDSTICK.contentLayer)!;
  const fb = ofB.content.get(YARDSTICK.contentLayer)!;
  let num = 0;
  let den = 0;
  for (let j = 0; j < fb.length; j++) {
    num += (fa[j] - fb[j]) ** 2;
    den += fb[j] ** 2;
  }
  assert.ok(Math.abs(s.content - num / den) <= 1e-4 * (num / den), `content: ${s.content} vs ${num / den}`);
  tf.disposeVariables();
});

test("a photo scores far from a painting and the painting far from the photo (shared VGG19)", { skip: noShared }, async () => {
  const [photo, painting] = await score({ content: DOG, styles: [SCREAM], images: [DOG, SCREAM], weights: SHARED_VGG19 });
  assert.equal(photo.content, 0);
  assert.ok(photo.styleMean > 0.5, `photo's style error ${photo.styleMean}`);
  assert.ok(photo.style.block1_conv1 > 0.5, `photo's block1_conv1 error ${photo.style.block1_conv1}`);
  assert.ok(painting.styleMean < 1e-6, `the painting against itself: ${painting.styleMean}`);
  assert.ok(painting.content > 0.5, `painting's content error ${painting.content}`);
});

function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/bin.ts"), ...args], { cwd: ROOT });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

test("pastiche score prints one JSON object per image with --json", async () => {
  const r = await cli("score", png("b"), png("a"), "--image", png("a"), png("c"), "--weights", weights, "--json");
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.image), [png("a"), png("c")]);
  assert.equal(lines[0].styleMean, 0);
  assert.ok(lines[1].styleMean > 0 && lines[1].content > 0);
  assert.deepEqual(Object.keys(lines[1].style), [...YARDSTICK.styleLayers]);
});

test("pastiche score: a missing image or no --image is exit 2 with the fix", async () => {
  const missing = await cli("score", png("b"), png("a"), "--image", join(dir, "nope.png"), "--weights", weights);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.png/);
  const none = await cli("score", png("b"), png("a"), "--weights", weights);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--image/);
  await writeFile(join(dir, "tiny.png"), await sharp({ create: { width: 8, height: 8, channels: 3, background: "#888" } }).png().toBuffer());
  const tiny = await cli("score", png("b"), png("a"), "--image", join(dir, "tiny.png"), "--weights", weights);
  assert.equal(tiny.code, 2);
  assert.match(tiny.stderr, /at least 16 px/);
});

test("score() checks maxInputPixels as a run does: the library names the option, not a CLI flag", async () => {
  const options = { content: png("a"), styles: [png("b")], images: [png("c")], weights };
  await rejectsWith(score({ ...options, maxInputPixels: 0 }), "BAD_OPTION", "max input pixels must be a whole number");
  await rejectsWith(score({ ...options, maxInputPixels: 1000 }), "INPUT_TOO_LARGE", "48x32");
});

test("the default preset brings block1_conv1's error (colour, fine texture) below half of the photo's own (dog + scream, 112 px)", { skip: noShared }, async () => {
  const { stylize } = await import("../src/pipeline/Stylize.js");
  const result = await stylize({ content: DOG, styles: [SCREAM], size: 112, weights: SHARED_VGG19 }).result;
  const [photo, output] = await score({ content: DOG, styles: [SCREAM], images: [await sharp(DOG).resize(result.width, result.height).png().toBuffer(), result.image], weights: SHARED_VGG19 });
  assert.ok(output.style.block1_conv1 < 0.5 * photo.style.block1_conv1, `output ${output.style.block1_conv1} vs photo ${photo.style.block1_conv1}`);
});
