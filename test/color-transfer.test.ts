import { mulberry32 } from "../src/util/Random.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  colorStats,
  matchColorStatistics,
  matchLuminance,
  recombineLuminance,
  symmetricFunction,
  toLuminance,
} from "../src/image/ColorTransfer.js";
import type { RgbImage } from "../src/image/ImageIO.js";

/** A width x height image whose pixel p is rgb(p, rand) rounded and clipped. */
function image(width: number, height: number, seed: number, rgb: (rand: () => number) => number[]): RgbImage {
  const rand = mulberry32(seed);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(rgb(rand).map((v) => Math.min(255, Math.max(0, Math.round(v)))), 3 * p);
  return { width, height, data };
}

function yiq(img: RgbImage, p: number): [number, number, number] {
  const [r, g, b] = img.data.subarray(3 * p, 3 * p + 3);
  return [
    0.299 * r + 0.587 * g + 0.114 * b,
    0.595716 * r - 0.274453 * g - 0.321263 * b,
    0.211456 * r - 0.522591 * g + 0.311135 * b,
  ];
}

function assertClose(actual: number[], expected: number[], tolerance: number, what: string): void {
  actual.forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]) <= tolerance, `${what}[${i}]: ${v} vs ${expected[i]} (tolerance ${tolerance})`),
  );
}

const content = image(24, 16, 1, (r) => [60 + 130 * r(), 60 + 130 * r(), 60 + 130 * r()]);

test("toLuminance puts the Y of YIQ on all three channels", () => {
  const img: RgbImage = { width: 3, height: 1, data: Uint8Array.from([255, 0, 0, 0, 255, 0, 10, 20, 30]) };
  assert.deepEqual([...toLuminance(img).data], [76, 76, 76, 150, 150, 150, 18, 18, 18]);
});

test("recombineLuminance takes Y from the styled image and I, Q from the content", () => {
  const styled = toLuminance(image(24, 16, 2, (r) => Array(3).fill(90 + 70 * r())));
  const out = recombineLuminance(styled, content);
  assert.deepEqual([out.width, out.height], [24, 16]);
  for (let p = 0; p < 24 * 16; p++) {
    const [y, i, q] = yiq(out, p);
    const [, ci, cq] = yiq(content, p);
    // Rounding each channel to a byte moves I and Q by at most about 0.6 each.
    assertClose([y, i, q], [styled.data[3 * p], ci, cq], 1, `pixel ${p}`);
  }
});

test("recombining the content's own luminance gives the content back", () => {
  const out = recombineLuminance(toLuminance(content), content);
  out.data.forEach((v, k) => assert.ok(Math.abs(v - content.data[k]) <= 1, `byte ${k}: ${v} vs ${content.data[k]}`));
});

test("recombineLuminance refuses images of different sizes", () => {
  assert.throws(() => recombineLuminance(toLuminance(content), image(2, 2, 3, () => [0, 0, 0])), RangeError);
});

function lumaMeanStd(img: RgbImage): [number, number] {
  const ys = Array.from({ length: img.width * img.height }, (_, p) => yiq(img, p)[0]);
  const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
  return [mean, Math.sqrt(ys.reduce((a, b) => a + (b - mean) ** 2, 0) / ys.length)];
}

test("matchLuminance gives the style luminance the content's mean and standard deviation", () => {
  const style = toLuminance(image(30, 20, 4, (r) => Array(3).fill(180 + 40 * r())));
  const contentLuma = toLuminance(content);
  const out = matchLuminance(style, contentLuma);
  assert.deepEqual([out.width, out.height], [30, 20]);
  assertClose(lumaMeanStd(out), lumaMeanStd(contentLuma), 0.3, "mean, std");
  // A flat style cannot be stretched: it only moves to the content's mean.
  const flat = matchLuminance(toLuminance(image(4, 4, 5, () => [200, 200, 200])), contentLuma);
  assert.ok(flat.data.every((v) => v === Math.round(lumaMeanStd(contentLuma)[0])));
});

test("symmetricFunction: the square root squares back and the inverse square root inverts it", () => {
  const spd = [50, 12, -7, 12, 30, 4, -7, 4, 9];
  const root = symmetricFunction(spd, Math.sqrt);
  const inverseRoot = symmetricFunction(spd, (l) => 1 / Math.sqrt(l));
  const product = (a: number[], b: number[]) =>
    Array.from({ length: 9 }, (_, k) => [0, 1, 2].reduce((s, j) => s + a[3 * Math.floor(k / 3) + j] * b[3 * j + (k % 3)], 0));
  assertClose(product(root, root), spd, 1e-9, "root^2");
  assertClose(product(root, inverseRoot), [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-9, "root * root^-1");
  assertClose(symmetricFunction([4, 0, 0, 0, 9, 0, 0, 0, 16], Math.sqrt), [2, 0, 0, 0, 3, 0, 0, 0, 4], 1e-12, "diagonal");
});

test("matchColorStatistics gives the style the content's RGB mean and covariance", () => {
  // Correlated, bluish style; the content is warm and differently correlated.
  const style = image(40, 30, 6, (r) => {
    const a = r();
    return [40 + 60 * a + 20 * r(), 50 + 50 * a, 120 + 100 * r()];
  });
  const warm = image(20, 20, 7, (r) => {
    const a = r();
    return [150 + 40 * a, 100 + 30 * r(), 60 - 20 * a + 30 * r()];
  });
  const out = matchColorStatistics(style, warm);
  assert.deepEqual([out.width, out.height], [40, 30]);
  const got = colorStats(out);
  const want = colorStats(warm);
  assertClose(got.mean, want.mean, 0.3, "mean");
  // Rounding to bytes adds about 1/12 to each variance.
  assertClose(got.cov, want.cov, 0.5, "covariance");
  assert.notDeepEqual(colorStats(style).mean.map(Math.round), want.mean.map(Math.round));
});

test("a grey style (singular covariance) still matches the content's mean without blowing up", () => {
  const grey = image(16, 16, 8, (r) => Array(3).fill(40 + 100 * r()));
  const out = matchColorStatistics(grey, content);
  assertClose(colorStats(out).mean, colorStats(content).mean, 1, "mean");
  const flat = matchColorStatistics(image(4, 4, 9, () => [9, 9, 9]), content);
  assertClose(colorStats(flat).mean, colorStats(content).mean, 0.5, "flat mean");
});
