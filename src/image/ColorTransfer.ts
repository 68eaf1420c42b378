/**
 * Colour preservation from Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer":
 * either transfer style on luminance only and take the colours (I, Q) from the content, or recolour
 * the style image so its RGB mean and covariance equal the content's before the transfer.
 */
import type { RgbImage } from "./ImageIO.js";

/** Row-major 3x3 matrix. */
type Mat3 = number[];

// NTSC YIQ; the inverse is computed rather than typed in so that RGB -> YIQ -> RGB is exact.
const RGB_TO_YIQ: Mat3 = [0.299, 0.587, 0.114, 0.595716, -0.274453, -0.321263, 0.211456, -0.522591, 0.311135];
const YIQ_TO_RGB: Mat3 = invert3(RGB_TO_YIQ);

/** The Y of YIQ on all three channels, so the network sees a grey picture. */
export function toLuminance(img: RgbImage): RgbImage {
  return greyImage(img.width, img.height, luma(img));
}

/** Output luminance from the styled (luminance-only) result, chrominance I and Q from the content. */
export function recombineLuminance(styledLuma: RgbImage, content: RgbImage): RgbImage {
  if (styledLuma.width !== content.width || styledLuma.height !== content.height) {
    throw new RangeError(
      `Styled image is ${styledLuma.width}x${styledLuma.height} but content is ${content.width}x${content.height}`,
    );
  }
  const y = luma(styledLuma);
  const src = content.data;
  const data = new Uint8Array(src.length);
  const m = RGB_TO_YIQ;
  const n = YIQ_TO_RGB;
  for (let p = 0; p < y.length; p++) {
    const r = src[3 * p];
    const g = src[3 * p + 1];
    const b = src[3 * p + 2];
    const i = m[3] * r + m[4] * g + m[5] * b;
    const q = m[6] * r + m[7] * g + m[8] * b;
    for (let c = 0; c < 3; c++) data[3 * p + c] = toByte(n[3 * c] * y[p] + n[3 * c + 1] * i + n[3 * c + 2] * q);
  }
  return { width: content.width, height: content.height, data };
}

/**
 * Shifts and scales the style luminance to the content's mean and standard deviation, so the
 * style's tones are expressed at the content's brightness and contrast (the paper's luminance matching).
 */
export function matchLuminance(styleLuma: RgbImage, contentLuma: RgbImage): RgbImage {
  const ys = luma(styleLuma);
  const s = meanStd(ys);
  const c = meanStd(luma(contentLuma));
  // A flat style has no contrast to rescale: it only takes the content's mean.
  const scale = s.std > 1e-9 ? c.std / s.std : 0;
  const out = ys.map((v) => (v - s.mean) * scale + c.mean);
  return greyImage(styleLuma.width, styleLuma.height, out);
}

/**
 * Linear recolouring x' = A (x - mean_s) + mean_c with A = Cov_c^(1/2) Cov_s^(-1/2) (symmetric
 * square roots), so the style's per-pixel RGB mean and covariance become the content's. Clipped to 0..255.
 */
export function matchColorStatistics(style: RgbImage, content: RgbImage): RgbImage {
  const s = colorStats(style);
  const c = colorStats(content);
  // Eigenvalues are floored because a grey or flat style has a singular covariance; its pixels
  // have no component along those directions, so the large inverse never multiplies anything.
  const a = mul3(
    symmetricFunction(c.cov, (l) => Math.sqrt(Math.max(l, 0))),
    symmetricFunction(s.cov, (l) => 1 / Math.sqrt(Math.max(l, 1e-3))),
  );
  const src = style.data;
  const data = new Uint8Array(src.length);
  for (let p = 0; p < src.length; p += 3) {
    const r = src[p] - s.mean[0];
    const g = src[p + 1] - s.mean[1];
    const b = src[p + 2] - s.mean[2];
    for (let k = 0; k < 3; k++) data[p + k] = toByte(a[3 * k] * r + a[3 * k + 1] * g + a[3 * k + 2] * b + c.mean[k]);
  }
  return { width: style.width, height: style.height, data };
}

function luma(img: RgbImage): Float64Array {
  const src = img.data;
  const y = new Float64Array(img.width * img.height);
  const [wr, wg, wb] = RGB_TO_YIQ;
  for (let p = 0; p < y.length; p++) y[p] = wr * src[3 * p] + wg * src[3 * p + 1] + wb * src[3 * p + 2];
  return y;
}

function greyImage(width: number, height: number, values: Float64Array): RgbImage {
  const data = new Uint8Array(values.length * 3);
  for (let p = 0; p < values.length; p++) data.fill(toByte(values[p]), 3 * p, 3 * p + 3);
  return { width, height, data };
}

function toByte(v: number): number {
  const r = Math.round(v);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

function meanStd(values: Float64Array): { mean: number; std: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(sq / values.length) };
}

/** Per-pixel RGB mean and (population) covariance. */
export function colorStats(img: RgbImage): { mean: number[]; cov: Mat3 } {
  const src = img.data;
  const n = src.length / 3;
  const mean = [0, 0, 0];
  for (let p = 0; p < src.length; p += 3) for (let k = 0; k < 3; k++) mean[k] += src[p + k];
  for (let k = 0; k < 3; k++) mean[k] /= n;
  const cov = new Array<number>(9).fill(0);
  for (let p = 0; p < src.length; p += 3) {
    for (let i = 0; i < 3; i++) {
      const di = src[p + i] - mean[i];
      for (let j = i; j < 3; j++) cov[3 * i + j] += di * (src[p + j] - mean[j]);
    }
  }
  for (let i = 0; i < 3; i++) {
    for (let j = i; j < 3; j++) {
      cov[3 * i + j] /= n;
      cov[3 * j + i] = cov[3 * i + j];
    }
  }
  return { mean, cov };
}

function mul3(a: Mat3, b: Mat3): Mat3 {
  const out = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      for (let k = 0; k < 3; k++) out[3 * i + j] += a[3 * i + k] * b[3 * k + j];
    }
  }
  return out;
}

function invert3(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m;
  const cofactors = [e * i - f * h, c * h - b * i, b * f - c * e, f * g - d * i, a * i - c * g, c * d - a * f, d * h - e * g, b * g - a * h, a * e - b * d];
  const det = a * cofactors[0] + b * cofactors[3] + c * cofactors[6];
  return cofactors.map((v) => v / det);
}

/** f(M) = V diag(f(lambda)) V^T for a symmetric M, eigenvectors by cyclic Jacobi rotations. */
export function symmetricFunction(m: Mat3, f: (eigenvalue: number) => number): Mat3 {
  const a = m.slice();
  const v = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const scale = Math.abs(a[0]) + Math.abs(a[4]) + Math.abs(a[8]);
  for (let sweep = 0; sweep < 50; sweep++) {
    if (a[1] * a[1] + a[2] * a[2] + a[5] * a[5] <= 1e-30 * scale * scale) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      const apq = a[3 * p + q];
      if (apq === 0) continue;
      const theta = (a[3 * q + q] - a[3 * p + p]) / (2 * apq);
      const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const cos = 1 / Math.sqrt(t * t + 1);
      const sin = t * cos;
      for (let k = 0; k < 3; k++) {
        const akp = a[3 * k + p];
        const akq = a[3 * k + q];
        a[3 * k + p] = cos * akp - sin * akq;
        a[3 * k + q] = sin * akp + cos * akq;
        const vkp = v[3 * k + p];
        const vkq = v[3 * k + q];
        v[3 * k + p] = cos * vkp - sin * vkq;
        v[3 * k + q] = sin * vkp + cos * vkq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[3 * p + k];
        const aqk = a[3 * q + k];
        a[3 * p + k] = cos * apk - sin * aqk;
        a[3 * q + k] = sin * apk + cos * aqk;
      }
    }
  }
  const fl = [f(a[0]), f(a[4]), f(a[8])];
  const out = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      for (let k = 0; k < 3; k++) out[3 * i + j] += v[3 * i + k] * fl[k] * v[3 * j + k];
    }
  }
  return out;
}
