import { backboneFor, type ModelName } from "../backbone/Backbone.js";
import type { ImageSize } from "./terms/LossTerm.js";

/** A rectangle of image positions, [x0, x1) x [y0, y1). */
export interface Rect {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** One window of a tiled image: where it sits and the positions whose features it owns. */
export interface Tile {
  /** Top-left corner of the window in the image; every window has the plan's `window` size. */
  readonly x: number;
  readonly y: number;
  /** The positions it owns (the owned rectangles partition the image). */
  readonly owned: Rect;
}

/**
 * An image evaluated in equal windows. Each window sees `margin` pixels of context around what it
 * owns (except at the image's edges), at least the network's reach up to its deepest layer, so the
 * features a window owns equal the whole image's exactly, and so do their gradients with respect to
 * the pixels. Window corners and owned edges sit on multiples of the network's total stride, so
 * every layer's pooling grid lines up with the whole image's.
 */
export interface TilePlan {
  readonly model: ModelName;
  readonly size: ImageSize;
  readonly window: ImageSize;
  readonly margin: number;
  readonly tiles: readonly Tile[];
}

/** The network's total stride at `deepest`: window corners and owned edges are multiples of it. */
export function tileAlignment(model: ModelName, deepest: string): number {
  return backboneFor(model).minimumInputSide(deepest);
}

/**
 * Pixels of context a window needs around what it owns: how far a zero-padded window edge reaches
 * into the activations up to `deepest` (each 3x3 conv one step, each 2x2 pool one step of its input
 * stride), rounded up to the alignment.
 */
export function tileMargin(model: ModelName, deepest: string): number {
  let reach = 0;
  let stride = 1;
  for (const layer of backboneFor(model).layersThrough(deepest)) {
    reach += stride;
    if (layer.kind === "pool") stride *= 2;
  }
  const align = tileAlignment(model, deepest);
  return Math.ceil(reach / align) * align;
}

/** Windows along one axis of length `length`: their offsets and the owned intervals' edges. */
/**
 * Windows along one axis of length `length`: as few as cover it, spread evenly (offsets on the grid,
 * the last flush with the far edge), and the owned intervals' edges, each `margin` inside a window.
 */
function axis(length: number, window: number, margin: number, align: number): { offsets: number[]; edges: number[] } {
  if (window >= length) return { offsets: [0], edges: [0, length] };
  // Rounding offsets down to the grid can lengthen a step by up to `align`.
  const reach = window - 2 * margin - align;
  if (reach <= 0) throw new Error(`a ${window} px window leaves nothing inside its ${margin} px margins`);
  const count = 1 + Math.ceil((length - window) / reach);
  const offsets = Array.from({ length: count }, (_, i) => (i === count - 1 ? length - window : Math.floor((i * (length - window)) / (count - 1) / align) * align));
  const edges = [0, ...offsets.slice(1).map((o) => o + margin), length];
  return { offsets, edges };
}

/** The smallest window side that covers `length` in `count` windows (on the grid of `length`). */
function sideFor(length: number, count: number, margin: number, align: number): number {
  if (count === 1) return length;
  const side = Math.ceil((length + (2 * margin + align) * (count - 1)) / count);
  return Math.min(length, side + ((((length - side) % align) + align) % align));
}

/** Windows of `window` size (each side on the grid of the image's) covering an image of `size`. */
export function planTiles(model: ModelName, deepest: string, size: ImageSize, window: ImageSize, margin = tileMargin(model, deepest)): TilePlan {
  const align = tileAlignment(model, deepest);
  for (const [side, length] of [
    [window.width, size.width],
    [window.height, size.height],
  ]) {
    if (side < length && (length - side) % align !== 0) throw new Error(`window side ${side} is off the ${align} px grid of ${length}`);
  }
  const across = axis(size.width, window.width, margin, align);
  const down = axis(size.height, window.height, margin, align);
  const tiles: Tile[] = [];
  down.offsets.forEach((y, j) =>
    across.offsets.forEach((x, i) =>
      tiles.push({ x, y, owned: { x0: across.edges[i], x1: across.edges[i + 1], y0: down.edges[j], y1: down.edges[j + 1] } }),
    ),
  );
  return { model, size, window: { width: Math.min(window.width, size.width), height: Math.min(window.height, size.height) }, margin, tiles };
}

/**
 * Windows for an image of `size` when it has more than `windowPixels` pixels (else undefined): of
 * all the ways to cut it in windows of at most `windowPixels`, the one with the fewest pixels run
 * in all (each window's margins are run twice over: by it and by its neighbour).
 */
export function tilesWithin(model: ModelName, deepest: string, size: ImageSize, windowPixels: number | undefined): TilePlan | undefined {
  if (windowPixels === undefined || size.width * size.height <= windowPixels) return undefined;
  const align = tileAlignment(model, deepest);
  const margin = tileMargin(model, deepest);
  let best: { window: ImageSize; cost: number } | undefined;
  for (let across = 1; across <= Math.ceil(size.width / align); across++) {
    const width = sideFor(size.width, across, margin, align);
    if (width <= 2 * margin + align && across > 1) break;
    for (let down = 1; down <= Math.ceil(size.height / align); down++) {
      const height = sideFor(size.height, down, margin, align);
      if (height <= 2 * margin + align && down > 1) break;
      if (width * height > windowPixels) continue;
      const cost = across * down * width * height;
      if (!best || cost < best.cost) best = { window: { width, height }, cost };
      break; // more windows down only cost more
    }
  }
  if (!best) throw new Error(`no window of ${windowPixels} px fits ${size.width}x${size.height} with ${margin} px margins`);
  return planTiles(model, deepest, size, best.window);
}

/** A map over a layer's positions (or the image's, layer undefined): its size, stride and where a tile sits in it. */
interface LayerGrid {
  readonly width: number;
  readonly height: number;
  readonly stride: number;
}

function grid(plan: TilePlan, layer: string | undefined, size: ImageSize): LayerGrid {
  if (layer === undefined) return { width: size.width, height: size.height, stride: 1 };
  return { ...backboneFor(plan.model).featureSize(size, layer), stride: 2 ** backboneFor(plan.model).poolsThrough(layer) };
}

/** The window's rectangle in `layer`'s positions (image positions when undefined), and the owned part within it. */
export function tileAt(plan: TilePlan, tile: Tile, layer: string | undefined): { window: Rect; owned: Rect } {
  const whole = grid(plan, layer, plan.size);
  const win = grid(plan, layer, plan.window);
  const s = whole.stride;
  const wx = tile.x / s;
  const wy = tile.y / s;
  const edge = (v: number, full: number, fullOut: number) => (v === full ? fullOut : v / s);
  return {
    window: { x0: wx, y0: wy, x1: wx + win.width, y1: wy + win.height },
    owned: {
      x0: tile.owned.x0 / s - wx,
      y0: tile.owned.y0 / s - wy,
      x1: edge(tile.owned.x1, plan.size.width, whole.width) - wx,
      y1: edge(tile.owned.y1, plan.size.height, whole.height) - wy,
    },
  };
}

/** The 0/1 map [h, w] of a window's positions at `layer` that its tile owns. */
export function ownershipMask(plan: TilePlan, tile: Tile, layer: string | undefined): Float32Array {
  const { window, owned } = tileAt(plan, tile, layer);
  const w = window.x1 - window.x0;
  const mask = new Float32Array(w * (window.y1 - window.y0));
  for (let y = owned.y0; y < owned.y1; y++) mask.fill(1, y * w + owned.x0, y * w + owned.x1);
  return mask;
}

/** A tile's window cut from a whole [channels, H, W] map at `layer` (the image when undefined). */
export function cropWindow(plan: TilePlan, tile: Tile, layer: string | undefined, whole: ArrayLike<number>, channels: number): Float32Array {
  const full = grid(plan, layer, plan.size);
  const { window } = tileAt(plan, tile, layer);
  const w = window.x1 - window.x0;
  const h = window.y1 - window.y0;
  const crop = new Float32Array(channels * w * h);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const src = (c * full.height + window.y0 + y) * full.width + window.x0;
      const dst = (c * h + y) * w;
      for (let x = 0; x < w; x++) crop[dst + x] = whole[src + x];
    }
  }
  return crop;
}

/** Adds a window's [channels, h, w] values into the whole map at `layer` (the image when undefined). */
export function addWindow(plan: TilePlan, tile: Tile, layer: string | undefined, values: ArrayLike<number>, channels: number, whole: Float32Array | Float64Array): void {
  const full = grid(plan, layer, plan.size);
  const { window } = tileAt(plan, tile, layer);
  const w = window.x1 - window.x0;
  const h = window.y1 - window.y0;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const dst = (c * full.height + window.y0 + y) * full.width + window.x0;
      const src = (c * h + y) * w;
      for (let x = 0; x < w; x++) whole[dst + x] += values[src + x];
    }
  }
}
