import type { Settings } from "./Settings.js";

export interface Size {
  readonly width: number;
  readonly height: number;
}

/** The output size: long edge = size with the content's aspect ratio, or size x size when squashing as the seed does. */
export function workingSize(content: Size, settings: Pick<Settings, "size" | "square">): Size {
  const { size, square } = settings;
  if (square) return { width: size, height: size };
  const scale = size / Math.max(content.width, content.height);
  return { width: Math.max(1, Math.round(content.width * scale)), height: Math.max(1, Math.round(content.height * scale)) };
}

/**
 * The size a style image is used at for an output of `output` size. Squashing runs (the seed) resize
 * it to exactly the output's size times the style scale. Otherwise it keeps its own aspect ratio and
 * gets the output's pixel count times styleScale^2, so brush strokes keep their shape and scale with
 * the output.
 */
export function styleSize(style: Size, output: Size, settings: Pick<Settings, "square" | "styleScale">): Size {
  const k = settings.styleScale;
  if (settings.square) return { width: Math.max(1, Math.round(output.width * k)), height: Math.max(1, Math.round(output.height * k)) };
  const scale = k * Math.sqrt((output.width * output.height) / (style.width * style.height));
  return { width: Math.max(1, Math.round(style.width * scale)), height: Math.max(1, Math.round(style.height * scale)) };
}

/** Long edge of the coarsest scale in an automatic pyramid. */
const COARSEST = 128;

/**
 * Coarse-to-fine sizes ending at `full`, each sqrt(2) larger than the one before: `auto` starts near
 * 128 px; a number gives that many scales. No scale is smaller than the network's minimum side.
 */
export function pyramid(full: Size, scales: "auto" | number, minSide: number): Size[] {
  const long = Math.max(full.width, full.height);
  const count = scales === "auto" ? Math.max(1, Math.floor(Math.log(long / COARSEST) / Math.log(Math.SQRT2) + 1e-9) + 1) : scales;
  const sizes: Size[] = [];
  for (let k = count - 1; k >= 0; k--) {
    const f = Math.SQRT2 ** -k;
    const size = { width: Math.round(full.width * f), height: Math.round(full.height * f) };
    if (Math.min(size.width, size.height) >= minSide) sizes.push(size);
  }
  return sizes.length ? sizes : [full];
}

