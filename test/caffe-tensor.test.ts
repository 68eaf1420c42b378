import assert from "node:assert/strict";
import { test } from "node:test";
import { CAFFE_MEAN_BGR, caffeToImage, imageToCaffe } from "../src/backbone/CaffeTensor.js";
import type { RgbImage } from "../src/image/ImageIO.js";

const [B, G, R] = CAFFE_MEAN_BGR;

test("imageToCaffe gives planar BGR minus the mean, in NCHW order", () => {
  // 2x1: pixel 0 = rgb(10,20,30), pixel 1 = rgb(200,100,50)
  const img: RgbImage = { width: 2, height: 1, data: Uint8Array.from([10, 20, 30, 200, 100, 50]) };
  const t = imageToCaffe(img);
  assert.ok(t instanceof Float32Array);
  const expected = [30 - B, 50 - B, 20 - G, 100 - G, 10 - R, 200 - R];
  assert.deepEqual([...t], expected.map(Math.fround));
});

test("the plane layout follows rows then columns", () => {
  const img: RgbImage = { width: 2, height: 2, data: new Uint8Array(12) };
  img.data[3 * 2] = 255; // red at (x=0, y=1)
  const t = imageToCaffe(img);
  assert.deepEqual([...t.subarray(8, 12)], [-R, -R, 255 - R, -R].map(Math.fround));
});

test("a Float64Array target is filled exactly", () => {
  const img: RgbImage = { width: 1, height: 1, data: Uint8Array.from([1, 2, 3]) };
  const out = new Float64Array(3);
  assert.equal(imageToCaffe(img, out), out);
  assert.deepEqual([...out], [3 - B, 2 - G, 1 - R]);
});

test("every byte value survives the round trip, through float32 and float64", () => {
  const width = 16;
  const height = 48;
  const data = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 7) % 256);
  const img: RgbImage = { width, height, data };
  for (const t of [imageToCaffe(img), imageToCaffe(img, new Float64Array(data.length))]) {
    const back = caffeToImage(t, width, height);
    assert.deepEqual([back.width, back.height], [width, height]);
    assert.deepEqual(back.data, data);
  }
});

test("caffeToImage rounds and clips, and turns NaN into 0", () => {
  // One pixel per column of the planes: B, G, R values chosen so the result is known.
  const t = Float64Array.from([
    -1000 - B, 0.4 - B, NaN, // B plane
    1000 - G, 0.6 - G, 254.5 - G, // G plane
    300 - R, -0.4 - R, 12 - R, // R plane
  ]);
  const img = caffeToImage(t, 3, 1);
  assert.deepEqual([...img.data], [255, 255, 0, 0, 1, 0, 12, 255, 0]);
});

test("sizes that do not match are rejected", () => {
  assert.throws(() => caffeToImage(new Float32Array(5), 1, 2), RangeError);
  assert.throws(() => imageToCaffe({ width: 2, height: 2, data: new Uint8Array(11) }), RangeError);
  assert.throws(() => imageToCaffe({ width: 1, height: 1, data: new Uint8Array(3) }, new Float32Array(4)), RangeError);
});
