import type { RgbImage } from "../image/ImageIO.js";

/** Caffe pre-processing as Keras' preprocess_input(mode="caffe"): BGR order, ImageNet mean removed. */
export const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;

/**
 * RGB bytes to the network's input [1,3,H,W]: planar BGR minus the ImageNet mean (Keras "caffe" mode).
 * Pass `out` (length 3*H*W) to fill a Float64Array for the optimiser without a float32 round trip.
 */
export function imageToCaffe(img: RgbImage): Float32Array;
export function imageToCaffe<T extends Float32Array | Float64Array>(img: RgbImage, out: T): T;
export function imageToCaffe(img: RgbImage, out?: Float32Array | Float64Array): Float32Array | Float64Array {
  const plane = img.width * img.height;
  if (img.data.length !== plane * 3) {
    throw new RangeError(`RGB data has ${img.data.length} bytes, expected ${plane * 3} for ${img.width}x${img.height}`);
  }
  const tensor = out ?? new Float32Array(plane * 3);
  if (tensor.length !== plane * 3) {
    throw new RangeError(`Tensor has ${tensor.length} values, expected ${plane * 3} for ${img.width}x${img.height}`);
  }
  const [meanB, meanG, meanR] = CAFFE_MEAN_BGR;
  const src = img.data;
  for (let i = 0; i < plane; i++) {
    tensor[i] = src[3 * i + 2] - meanB;
    tensor[plane + i] = src[3 * i + 1] - meanG;
    tensor[2 * plane + i] = src[3 * i] - meanR;
  }
  return tensor;
}

/** The inverse of imageToCaffe: adds the mean back, BGR to RGB, rounds and clips to 0..255. */
export function caffeToImage(tensor: Float32Array | Float64Array, width: number, height: number): RgbImage {
  const plane = width * height;
  if (tensor.length !== plane * 3) {
    throw new RangeError(`Tensor has ${tensor.length} values, expected ${plane * 3} for ${width}x${height}`);
  }
  const data = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const mean = CAFFE_MEAN_BGR[c];
    const rgbChannel = 2 - c;
    for (let i = 0; i < plane; i++) {
      // A NaN fails both comparisons and is stored as 0 by the Uint8Array.
      const v = Math.round(tensor[c * plane + i] + mean);
      data[3 * i + rgbChannel] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height, data };
}
