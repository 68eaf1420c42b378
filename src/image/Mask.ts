import { PasticheError } from "../errors.js";
import { wholeNumber } from "../options/Check.js";
import { describeImage, readImage, resizeTo, type ReadImageOptions, type RgbImage } from "./ImageIO.js";

export interface MaskOptions extends ReadImageOptions {
  /** More distinct colours than this is taken for an anti-aliased or lossy mask (default 16). */
  maxColors?: number;
}

export interface Mask {
  /** Region index of each output pixel, row-major: an index into `colors`. */
  labels: Uint8Array;
  /** Region colours as "#rrggbb", in order of first appearance scanning rows top to bottom. */
  colors: string[];
  notes: string[];
}

export const DEFAULT_MAX_MASK_COLORS = 16;

/**
 * Reads a region mask (with readImage's safety checks) and scales it to width x height with
 * nearest-neighbour sampling, which never invents the in-between colours other filters would.
 */
export async function readMask(
  input: string | Buffer,
  width: number,
  height: number,
  options: MaskOptions,
): Promise<Mask> {
  const label = options.label ?? "the mask";
  // Labels are bytes.
  const maxColors = wholeNumber({ key: "maxColors", label: "the mask colour limit" }, options.maxColors ?? DEFAULT_MAX_MASK_COLORS, 1, 256);
  const source = await readImage(input, { ...options, label });
  const notes = [...source.notes];

  // Counted at full resolution: the resize would hide part of an anti-aliased edge.
  const sourceColors = colorKeys(source, maxColors).length;
  if (sourceColors > maxColors) {
    throw new PasticheError(
      "BAD_OPTION",
      `${describeImage(input, label)} has more than ${maxColors} distinct colours: it is probably anti-aliased ` +
        `or saved as JPEG. Paint it with hard-edged flat colours (antialiasing off) and save it as PNG`,
    );
  }

  const resized = await resizeTo(source, width, height, "nearest");
  const keys = colorKeys(resized, maxColors);
  const index = new Map(keys.map((k, i) => [k, i]));
  const labels = new Uint8Array(width * height);
  const d = resized.data;
  for (let p = 0; p < labels.length; p++) labels[p] = index.get(rgbKey(d, 3 * p))!;

  if (keys.length < sourceColors) {
    notes.push(`${label}: ${sourceColors - keys.length} colour region(s) too small to survive scaling to ${width}x${height}`);
  }
  const aspectChange = (source.width / source.height) / (width / height);
  if (Math.abs(aspectChange - 1) > 0.01) {
    notes.push(`${label} is ${source.width}x${source.height}, stretched to ${width}x${height}: its regions are distorted`);
  }
  return { labels, colors: keys.map((k) => "#" + k.toString(16).padStart(6, "0")), notes };
}

function rgbKey(data: Uint8Array, offset: number): number {
  return (data[offset] << 16) | (data[offset + 1] << 8) | data[offset + 2];
}

/** Distinct colours as 0xRRGGBB, in order of first appearance; stops once there are more than `limit`. */
function colorKeys(img: RgbImage, limit: number): number[] {
  const seen = new Set<number>();
  for (let p = 0; p < img.data.length && seen.size <= limit; p += 3) seen.add(rgbKey(img.data, p));
  return [...seen];
}
