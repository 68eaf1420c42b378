import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { readMask } from "../src/image/Mask.js";
import { DEFAULT_MAX_INPUT_PIXELS } from "../src/pipeline/OptionSchema.js";
import { rejectsWith } from "./helpers/assertions.js";

/** The library's default limit, as the schema gives it. */
const limits = { maxPixels: DEFAULT_MAX_INPUT_PIXELS };

type Rgb = [number, number, number];
const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];
const WHITE: Rgb = [255, 255, 255];

function maskPng(width: number, height: number, colorAt: (x: number, y: number) => Rgb): Promise<Buffer> {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(colorAt(x, y), 3 * (y * width + x));
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Left half red; right half blue on top, green below. */
const threeRegions = (x: number, y: number, size: number): Rgb => (x < size / 2 ? RED : y < size / 2 ? BLUE : GREEN);


test("labels index the colours, listed in order of first appearance", async () => {
  const mask = await readMask(await maskPng(8, 8, (x, y) => threeRegions(x, y, 8)), 4, 4, limits);
  assert.deepEqual(mask.colors, ["#ff0000", "#0000ff", "#00ff00"]);
  assert.deepEqual([...mask.labels], [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 2, 2]);
  assert.deepEqual(mask.notes, []);
});

test("upscaling uses nearest neighbour: hard block edges, no new colours", async () => {
  const mask = await readMask(await maskPng(2, 2, (x, y) => threeRegions(x, y, 2)), 6, 6, limits);
  assert.deepEqual(mask.colors, ["#ff0000", "#0000ff", "#00ff00"]);
  const rows = Array.from({ length: 6 }, (_, y) => [...mask.labels.subarray(6 * y, 6 * y + 6)].join(""));
  assert.deepEqual(rows, ["000111", "000111", "000111", "000222", "000222", "000222"]);
});

test("an anti-aliased or JPEG mask is refused with the cause and the fix", async () => {
  // 61 px so the edges fall inside JPEG's 8x8 blocks, where its ringing makes new colours.
  const png = await maskPng(61, 61, (x, y) => threeRegions(x, y, 61));
  assert.equal((await readMask(png, 61, 61, limits)).colors.length, 3);
  const blurred = await sharp(png).blur(2).png().toBuffer();
  await rejectsWith(readMask(blurred, 61, 61, limits), "BAD_OPTION", "the mask", "more than 16", "anti-aliased", "PNG");
  const jpeg = await sharp(png).jpeg({ quality: 70 }).toBuffer();
  await rejectsWith(readMask(jpeg, 61, 61, { ...limits, label: "mask 2" }), "BAD_OPTION", "mask 2", "JPEG");
});

test("maxColors sets the limit", async () => {
  const png = await maskPng(8, 8, (x, y) => threeRegions(x, y, 8));
  await rejectsWith(readMask(png, 8, 8, { ...limits, maxColors: 2 }), "BAD_OPTION", "more than 2");
  assert.equal((await readMask(png, 8, 8, { ...limits, maxColors: 3 })).colors.length, 3);
  await rejectsWith(readMask(png, 8, 8, { ...limits, maxColors: 300 }), "BAD_OPTION", "1 to 256");
});

test("a region lost in scaling and a stretched mask are reported in notes", async () => {
  const speck = await maskPng(100, 100, (x, y) => (x === 1 && y === 1 ? RED : WHITE));
  const small = await readMask(speck, 10, 10, limits);
  assert.deepEqual(small.colors, ["#ffffff"]);
  assert.ok(small.labels.every((l) => l === 0));
  assert.match(small.notes.join("\n"), /1 colour region\(s\) too small/);
  const stretched = await readMask(speck, 100, 50, limits);
  assert.match(stretched.notes.join("\n"), /stretched to 100x50/);
});

test("transparent areas count as white, like any image", async () => {
  const rgba = Uint8Array.from([0, 0, 0, 0, 0, 0, 255, 255]);
  const png = await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
  const mask = await readMask(png, 2, 1, limits);
  assert.deepEqual(mask.colors, ["#ffffff", "#0000ff"]);
  assert.deepEqual([...mask.labels], [0, 1]);
});

test("errors name the mask and its file; a bad target size is a BAD_OPTION", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pastiche-mask-"));
  try {
    const missing = join(dir, "regions.png");
    await rejectsWith(readMask(missing, 4, 4, limits), "INPUT_MISSING", "the mask", missing);
    const gradient = join(dir, "gradient.png");
    await writeFile(gradient, await maskPng(32, 1, (x) => [8 * x, 0, 0]));
    await rejectsWith(readMask(gradient, 4, 4, { ...limits, label: "mask 1" }), "BAD_OPTION", "mask 1", gradient, "anti-aliased");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const png = await maskPng(4, 4, () => RED);
  await rejectsWith(readMask(png, 0, 4, limits), "BAD_OPTION", "width");
});
