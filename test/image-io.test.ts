import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { isPasticheError } from "../src/errors.js";
import {
  checkOutputPath,
  encodeImage,
  readImage,
  resizeTo,
  writeImageAtomic,
  type RgbImage,
} from "../src/image/ImageIO.js";
import { DEFAULT_MAX_INPUT_PIXELS } from "../src/pipeline/OptionSchema.js";
import { blackPng } from "./helpers/blackPng.js";
import { rejectsWith } from "./helpers/assertions.js";

/** The library's default limit, as the schema gives it. */
const limits = { maxPixels: DEFAULT_MAX_INPUT_PIXELS };

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "pastiche-image-io-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function solid(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(rgb, 3 * p);
  return { width, height, data };
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  const o = 3 * (y * img.width + x);
  return [...img.data.subarray(o, o + 3)];
}

function assertNear(actual: number[], expected: number[], tolerance: number): void {
  assert.ok(
    actual.every((v, i) => Math.abs(v - expected[i]) <= tolerance),
    `${JSON.stringify(actual)} is not within ${tolerance} of ${JSON.stringify(expected)}`,
  );
}


/** Noise so JPEG keeps many bytes of entropy-coded data (a truncation then cuts pixels, not headers). */
async function noisyJpeg(width: number, height: number): Promise<Buffer> {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg().toBuffer();
}

describe("readImage: formats and normalisation", () => {
  test("a PNG round-trips exactly, from a path and from a buffer", async () => {
    const img: RgbImage = { width: 3, height: 2, data: Uint8Array.from({ length: 18 }, (_, i) => i * 14) };
    const path = join(dir, "exact.png");
    await writeImageAtomic(path, img);
    for (const input of [path, await readFile(path)]) {
      const back = await readImage(input, limits);
      assert.deepEqual([back.width, back.height, [...back.data]], [3, 2, [...img.data]]);
      assert.deepEqual(back.notes, []);
    }
  });

  test("EXIF orientation 6 is applied: width and height swap, the left edge becomes the top", async () => {
    const width = 32;
    const height = 16;
    const img = solid(width, height, [0, 0, 255]);
    for (let y = 0; y < height; y++) for (let x = 0; x < width / 2; x++) img.data.set([255, 0, 0], 3 * (y * width + x));
    const jpeg = await sharp(img.data, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    assert.equal((await sharp(jpeg).metadata()).orientation, 6);
    const back = await readImage(jpeg, limits);
    assert.deepEqual([back.width, back.height], [16, 32]);
    assertNear(pixel(back, 8, 4), [255, 0, 0], 12);
    assertNear(pixel(back, 8, 28), [0, 0, 255], 12);
  });

  test("transparency is flattened onto white", async () => {
    const rgba = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 128]);
    const png = await sharp(rgba, { raw: { width: 3, height: 1, channels: 4 } }).png().toBuffer();
    const back = await readImage(png, limits);
    assert.deepEqual([...back.data.subarray(0, 6)], [255, 255, 255, 0, 0, 0]);
    assertNear(pixel(back, 2, 0), [255, 127, 127], 1);
  });

  test("16-bit greyscale becomes 8-bit RGB", async () => {
    const grey16 = Uint16Array.from([0xffff, 0x8000, 0x0101, 0]);
    const png = await sharp(grey16, { raw: { width: 2, height: 2, channels: 1 } }).toColourspace("grey16").png().toBuffer();
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.bitsPerSample, meta.channels], [16, 1]);
    const back = await readImage(png, limits);
    assert.deepEqual([...back.data], [255, 255, 255, 128, 128, 128, 1, 1, 1, 0, 0, 0]);
  });

  test("an animated GIF gives its first frame and a note saying so", async () => {
    const frames = new Uint8Array(4 * 8 * 4);
    for (let p = 0; p < 32; p++) frames.set(p < 16 ? [255, 0, 0, 255] : [0, 0, 255, 255], 4 * p);
    const gif = await sharp(frames, { raw: { width: 4, height: 8, channels: 4, pageHeight: 4 } }).gif().toBuffer();
    const back = await readImage(gif, { ...limits, label: "style image 2" });
    assert.deepEqual([back.width, back.height], [4, 4]);
    assertNear(pixel(back, 3, 3), [255, 0, 0], 8);
    assert.equal(back.notes.length, 1);
    assert.match(back.notes[0], /style image 2.*2 frames.*only the first/);
  });

  test("WebP, AVIF and TIFF are read", async () => {
    const src = solid(8, 6, [200, 120, 40]);
    for (const format of ["webp", "avif", "tiff"] as const) {
      const encoded = await sharp(src.data, { raw: { width: 8, height: 6, channels: 3 } }).toFormat(format).toBuffer();
      const back = await readImage(encoded, limits);
      assert.deepEqual([back.width, back.height], [8, 6], format);
      assertNear(pixel(back, 4, 3), [200, 120, 40], 6);
    }
  });
});

describe("readImage: refusals name the file and the fix", () => {
  test("a missing file", async () => {
    const path = join(dir, "nope.jpg");
    await rejectsWith(readImage(path, { ...limits, label: "content image" }), "INPUT_MISSING", "content image", path, "check the path");
  });

  test("a directory", async () => {
    await rejectsWith(readImage(dir, limits), "INPUT_NOT_FILE", dir, "folder");
  });

  test("an empty file, an empty buffer and a text file", async () => {
    const empty = join(dir, "empty.png");
    await writeFile(empty, "");
    await rejectsWith(readImage(empty, limits), "INPUT_NOT_IMAGE", empty, "empty");
    await rejectsWith(readImage(Buffer.alloc(0), { ...limits, label: "style image 1" }), "INPUT_NOT_IMAGE", "style image 1", "empty");
    const text = join(dir, "notes.png");
    await writeFile(text, "these are not pixels\n");
    await rejectsWith(readImage(text, limits), "INPUT_NOT_IMAGE", text, "JPEG, PNG");
  });

  test("a truncated JPEG and a truncated PNG", async () => {
    const jpeg = await noisyJpeg(64, 64);
    const cutJpeg = join(dir, "cut.jpg");
    await writeFile(cutJpeg, jpeg.subarray(0, Math.floor(jpeg.length * 0.7)));
    await rejectsWith(readImage(cutJpeg, limits), "INPUT_CORRUPT", cutJpeg, "re-download");
    const png = await sharp(jpeg).png().toBuffer();
    await rejectsWith(readImage(png.subarray(0, png.length >> 1), { ...limits, label: "mask" }), "INPUT_CORRUPT", "mask");
  });

  test("the PNG bomb builder makes valid PNGs", async () => {
    for (const [w, h] of [[13, 7], [20, 2300]]) {
      const back = await readImage(blackPng(w, h), limits);
      assert.deepEqual([back.width, back.height], [w, h]);
      assert.ok(back.data.every((v) => v === 0));
    }
  });

  test("a 60000x60000 PNG is refused from its header, fast, with the default limit", async () => {
    const bomb = blackPng(60000, 60000);
    assert.ok(bomb.length < 2_000_000, `the fixture is ${bomb.length} bytes`);
    const path = join(dir, "bomb.png");
    await writeFile(path, bomb);
    const start = performance.now();
    await rejectsWith(readImage(path, limits), "INPUT_TOO_LARGE", path, "60000x60000", "100 megapixels", "--max-input-pixels");
    // Decoding 3.6 gigapixels would take far longer (and ~11 GB of memory).
    assert.ok(performance.now() - start < 2000);
  });

  test("maxPixels is the exact boundary", async () => {
    const png = await encodeImage(solid(20, 10, [1, 2, 3]), "png");
    await rejectsWith(readImage(png, { maxPixels: 199 }), "INPUT_TOO_LARGE", "20x10");
    assert.equal((await readImage(png, { maxPixels: 200 })).width, 20);
  });
});

describe("resizing", () => {
  test("resizeTo is exact and keeps flat colours flat", async () => {
    const out = await resizeTo(solid(7, 5, [10, 200, 77]), 13, 2);
    assert.deepEqual([out.width, out.height], [13, 2]);
    for (let p = 0; p < 26; p++) assert.deepEqual(pixel(out, p % 13, Math.floor(p / 13)), [10, 200, 77]);
  });

  test("resizeTo with nearest never invents colours", async () => {
    const img = solid(2, 1, [255, 0, 0]);
    img.data.set([0, 0, 255], 3);
    const out = await resizeTo(img, 9, 3, "nearest");
    for (let p = 0; p < 27; p++) {
      const c = pixel(out, p % 9, Math.floor(p / 9)).join();
      assert.ok(c === "255,0,0" || c === "0,0,255", c);
    }
  });

  test("a size below one pixel is a BAD_OPTION", async () => {
    await assert.rejects(resizeTo(solid(2, 2, [0, 0, 0]), 0, 2), (e: unknown) => isPasticheError(e) && e.code === "BAD_OPTION");
  });
});

describe("encoding and writing", () => {
  test("every output format decodes to the same size; PNG is lossless", async () => {
    const img = solid(9, 4, [30, 60, 90]);
    for (const format of ["png", "jpg", "webp"] as const) {
      const back = await readImage(await encodeImage(img, format), limits);
      assert.deepEqual([back.width, back.height], [9, 4]);
      assertNear(pixel(back, 4, 2), [30, 60, 90], format === "png" ? 0 : 4);
    }
  });

  test("writeImageAtomic picks the format from the extension and leaves no temporary file", async () => {
    const folder = await mkdtemp(join(dir, "write-"));
    const img = solid(5, 5, [1, 2, 3]);
    for (const name of ["a.png", "b.JPG", "c.jpeg", "d.webp"]) await writeImageAtomic(join(folder, name), img);
    assert.deepEqual((await readdir(folder)).sort(), ["a.png", "b.JPG", "c.jpeg", "d.webp"]);
    const formats = await Promise.all(["a.png", "b.JPG", "c.jpeg", "d.webp"].map(async (n) => (await sharp(join(folder, n)).metadata()).format));
    assert.deepEqual(formats, ["png", "jpeg", "jpeg", "webp"]);
  });

  test("writeImageAtomic replaces an existing file", async () => {
    const folder = await mkdtemp(join(dir, "replace-"));
    const path = join(folder, "out.png");
    await writeImageAtomic(path, solid(2, 2, [10, 10, 10]));
    await writeImageAtomic(path, solid(3, 1, [200, 100, 0]));
    const back = await readImage(path, limits);
    assert.deepEqual([back.width, back.height, pixel(back, 0, 0)], [3, 1, [200, 100, 0]]);
    assert.deepEqual(await readdir(folder), ["out.png"]);
  });

  test("an unsupported extension is a BAD_OPTION listing the supported ones, and nothing is written", async () => {
    const folder = await mkdtemp(join(dir, "ext-"));
    await rejectsWith(writeImageAtomic(join(folder, "out.gif"), solid(1, 1, [0, 0, 0])), "BAD_OPTION", ".png", ".jpg", ".webp");
    await rejectsWith(checkOutputPath(join(folder, "out")), "BAD_OPTION", ".jpeg");
    assert.deepEqual(await readdir(folder), []);
  });

  test("a missing folder or a file in place of the folder is OUTPUT_NOT_WRITABLE naming the folder", async () => {
    const missing = join(dir, "no-such-folder");
    const notFolder = join(dir, "plain-file");
    await writeFile(notFolder, "x");
    for (const folder of [missing, notFolder]) {
      const path = join(folder, "out.png");
      await rejectsWith(checkOutputPath(path), "OUTPUT_NOT_WRITABLE", folder);
      await rejectsWith(writeImageAtomic(path, solid(1, 1, [0, 0, 0])), "OUTPUT_NOT_WRITABLE", folder);
    }
  });

  test("a failed rename leaves no partial or temporary file behind", async () => {
    const folder = await mkdtemp(join(dir, "fail-"));
    const inTheWay = join(folder, "out.png");
    await mkdir(inTheWay);
    await writeFile(join(inTheWay, "keep"), "x");
    await rejectsWith(checkOutputPath(inTheWay), "OUTPUT_NOT_WRITABLE", "folder");
    await rejectsWith(writeImageAtomic(inTheWay, solid(1, 1, [0, 0, 0])), "OUTPUT_NOT_WRITABLE", inTheWay);
    assert.deepEqual(await readdir(folder), ["out.png"]);
    assert.deepEqual(await readdir(inTheWay), ["keep"]);
  });

  test("checkOutputPath accepts a writable target, returns its format and creates nothing", async () => {
    const folder = await mkdtemp(join(dir, "check-"));
    assert.equal(await checkOutputPath(join(folder, "x.jpeg")), "jpg");
    assert.equal(await checkOutputPath(join(folder, "x.WEBP")), "webp");
    assert.deepEqual(await readdir(folder), []);
  });
});
