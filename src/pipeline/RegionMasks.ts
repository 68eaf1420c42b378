import { backboneFor } from "../backbone/Backbone.js";
import { PasticheError } from "../errors.js";
import { readMask } from "../image/Mask.js";
import type { Size } from "./Geometry.js";
import { OPTIONS } from "./OptionSchema.js";
import type { Settings } from "./Settings.js";

const NO_STYLE = "#000000";

/**
 * Which style applies where. Black keeps the content (no style loss there); every other colour of
 * the mask, in order of first appearance scanning from the top-left, selects the style image of the
 * same rank. Masks reach each layer as the fraction of every activation's cell the region covers:
 * box-averaged to the scale's size, then 2x2-averaged through each pooling.
 */
export class RegionMasks {
  private constructor(
    private readonly labels: Uint8Array,
    private readonly full: Size,
    /** Label value of each style's region. */
    private readonly styleLabels: number[],
    private readonly model: Settings["model"],
  ) {}

  static async read(input: string | Buffer, full: Size, styleCount: number, settings: Settings): Promise<RegionMasks> {
    if (settings.styleBlend.some((w) => w !== settings.styleBlend[0])) {
      throw new PasticheError("BAD_OPTION", (name) => `${name(OPTIONS.styleBlend)} and ${name(OPTIONS.mask)} cannot be combined: with a mask each region takes exactly one style`);
    }
    const mask = await readMask(input, full.width, full.height, { maxPixels: settings.maxInputPixels, label: "mask" });
    const styleLabels = mask.colors.flatMap((c, i) => (c === NO_STYLE ? [] : [i]));
    if (styleLabels.length !== styleCount) {
      throw new PasticheError(
        "BAD_OPTION",
        `the mask has ${styleLabels.length} colour(s) besides black (${mask.colors.filter((c) => c !== NO_STYLE).join(", ") || "none"}) ` +
          `but ${styleCount} style image(s) were given: give one style image per colour, in the order the colours first appear ` +
          `from the top-left; paint black where the content should stay unstyled`,
      );
    }
    return new RegionMasks(mask.labels, full, styleLabels, settings.model);
  }

  /** Style `style`'s soft mask at `layer` for an output of `size`, [1,1,h,w] flattened. */
  at(style: number, layer: string, size: Size): Float32Array {
    let m = this.coverage(this.styleLabels[style], size);
    let { width: w, height: h } = size;
    for (let p = backboneFor(this.model).poolsThrough(layer); p > 0; p--) {
      const w2 = Math.floor(w / 2);
      const h2 = Math.floor(h / 2);
      const next = new Float32Array(w2 * h2);
      for (let y = 0; y < h2; y++) {
        for (let x = 0; x < w2; x++) {
          const i = 2 * y * w + 2 * x;
          next[y * w2 + x] = 0.25 * (m[i] + m[i + 1] + m[i + w] + m[i + w + 1]);
        }
      }
      m = next;
      w = w2;
      h = h2;
    }
    return m;
  }

  /** Fraction of each pixel of a `size` grid that `label` covers in the full-size mask (box filter). */
  private coverage(label: number, size: Size): Float32Array {
    const { width: W, height: H } = this.full;
    const out = new Float32Array(size.width * size.height);
    const counts = new Float32Array(out.length);
    for (let y = 0; y < H; y++) {
      const ty = Math.min(size.height - 1, Math.floor((y * size.height) / H));
      for (let x = 0; x < W; x++) {
        const t = ty * size.width + Math.min(size.width - 1, Math.floor((x * size.width) / W));
        counts[t]++;
        if (this.labels[y * W + x] === label) out[t]++;
      }
    }
    return out.map((v, i) => (counts[i] ? v / counts[i] : 0));
  }
}
