import { TargetExtractor } from "../engine/TargetExtractor.js";
import type { ObjectiveOptions } from "../objective/ObjectiveSpec.js";
import { featureName } from "../objective/terms/ContentTerm.js";
import { gramName } from "../objective/terms/LossTerm.js";
import { PasticheError } from "../errors.js";
import { readImage, resizeTo, type RgbImage } from "../image/ImageIO.js";
import { backboneFor, type BackboneWeights } from "../backbone/Backbone.js";
import { tilesWithin } from "../objective/Tiles.js";
import { styleSize } from "./Geometry.js";
import { defaultMemoryBudget, planMemory } from "./MemoryBudget.js";
import { DEFAULT_MAX_INPUT_PIXELS, OPTIONS } from "./OptionSchema.js";
import type { ImageInput } from "./types.js";

/**
 * The fixed yardstick for judging a picture, whatever settings made it: VGG19 features, max pooling,
 * per-pixel Gram matrices at the first conv of every block, content features at block4_conv2. A run's
 * own loss cannot compare settings (the settings define it); this can.
 */
export const YARDSTICK = {
  model: "vgg19",
  contentLayer: "block4_conv2",
  styleLayers: ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"],
} as const;

/** One image's distance from the style and from the photo. 0 is identical; an unrelated image scores ~1. */
export interface ImageScore {
  /** ||G(image) - G(style)||_F / ||G(style)||_F per style layer, G = F F^T / (h w). */
  readonly style: Readonly<Record<string, number>>;
  /** The mean of the style errors over the layers. */
  readonly styleMean: number;
  /** ||F(image) - F(content)||^2 / ||F(content)||^2 at block4_conv2. */
  readonly content: number;
}

export interface ScoreOptions {
  content: ImageInput;
  styles: ImageInput[];
  /** The images to judge (outputs of any preset, or anything else). */
  images: ImageInput[];
  /** Relative weights of the styles; the target is their blended Gram matrices. Default: equal. */
  styleBlend?: number[];
  /** A local VGG19 weights file; otherwise the cached catalogue file (downloaded when missing). */
  weights?: string;
  threads?: number;
  maxInputPixels?: number;
  /** Memory the scoring may use (default: three quarters of the machine's); larger images are read in windows. */
  maxMemory?: number;
}

/**
 * Scores each image against the content and the (blended) styles. The content is resized to the
 * image's size, each style to the image's pixel count keeping its own aspect ratio.
 */
export async function score(options: ScoreOptions): Promise<ImageScore[]> {
  const { maxInputPixels } = OPTIONS;
  const limits = { maxPixels: maxInputPixels.kind.check(maxInputPixels, options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS) };
  const blend = options.styleBlend ?? options.styles.map(() => 1);
  if (options.styles.length === 0) throw new PasticheError("BAD_OPTION", "no style image given; pass at least one");
  if (options.images.length === 0) throw new PasticheError("BAD_OPTION", "no image to score given; pass at least one");
  if (blend.length !== options.styles.length || blend.some((w) => !(w >= 0)) || !(blend.reduce((a, b) => a + b, 0) > 0)) {
    throw new PasticheError("BAD_OPTION", `style blend needs one weight >= 0 per style image with a positive sum, got ${blend.join(",")}`);
  }
  const content = await readImage(options.content, { ...limits, label: "content image" });
  const styles = await Promise.all(options.styles.map((s, i) => readImage(s, { ...limits, label: `style image ${i + 1}` })));
  const images = await Promise.all(options.images.map((s, i) => readImage(s, { ...limits, label: `image ${i + 1}` })));
  const minSide = backboneFor(YARDSTICK.model).minimumInputSide(YARDSTICK.styleLayers[4]);
  for (const [i, img] of images.entries()) {
    if (Math.min(img.width, img.height) < minSide) {
      throw new PasticheError("INPUT_TOO_SMALL", `image ${i + 1} is ${img.width}x${img.height}; scoring needs at least ${minSide} px on each side`);
    }
  }
  const weights = await backboneFor(YARDSTICK.model).obtainWeights({ weights: options.weights, upTo: YARDSTICK.styleLayers[4] });
  const yardstick = new Yardstick(weights, options.threads, options.maxMemory ?? defaultMemoryBudget());
  try {
    const total = blend.reduce((a, b) => a + b, 0);
    // The reference depends only on the image's size: images of one size (outputs of several
    // presets, say) share it.
    const references = new Map<string, Features>();
    const reference = async (image: RgbImage): Promise<Features> => {
      const grams = new Map<string, Float64Array>();
      for (const [i, style] of styles.entries()) {
        const size = styleSize(style, image, { square: false, styleScale: 1 });
        for (const [layer, g] of (await yardstick.features(await resizeTo(style, size.width, size.height))).grams) {
          const acc = grams.get(layer) ?? new Float64Array(g.length);
          for (let j = 0; j < g.length; j++) acc[j] += (blend[i] / total) * g[j];
          grams.set(layer, acc);
        }
      }
      return { grams, content: (await yardstick.features(await resizeTo(content, image.width, image.height))).content };
    };
    const results: ImageScore[] = [];
    for (const image of images) {
      const key = `${image.width}x${image.height}`;
      if (!references.has(key)) references.set(key, await reference(image));
      results.push(compare(await yardstick.features(image), references.get(key)!));
    }
    return results;
  } finally {
    await yardstick.release();
  }
}

interface Features {
  /** Per-pixel Gram matrices by layer. */
  readonly grams: ReadonlyMap<string, Float64Array>;
  readonly content: Float32Array;
}

function compare(image: Features, reference: Features): ImageScore {
  const style: Record<string, number> = {};
  for (const layer of YARDSTICK.styleLayers) {
    const g = image.grams.get(layer)!;
    const a = reference.grams.get(layer)!;
    let num = 0;
    let den = 0;
    for (let j = 0; j < a.length; j++) {
      num += (g[j] - a[j]) ** 2;
      den += a[j] ** 2;
    }
    style[layer] = Math.sqrt(num / Math.max(den, 1e-30));
  }
  let num = 0;
  let den = 0;
  for (let j = 0; j < reference.content.length; j++) {
    num += (image.content[j] - reference.content[j]) ** 2;
    den += reference.content[j] ** 2;
  }
  const values = Object.values(style);
  return { style, styleMean: values.reduce((s, v) => s + v, 0) / values.length, content: num / Math.max(den, 1e-30) };
}

/** The yardstick's features are the content and style terms' own, at its layers. */
const YARDSTICK_FEATURES: ObjectiveOptions = {
  model: YARDSTICK.model,
  pooling: "max",
  normalization: "gatys",
  contentLayers: [{ layer: YARDSTICK.contentLayer, weight: 1 }],
  styleLayers: YARDSTICK.styleLayers.map((layer) => ({ layer, weight: 1 })),
  contentWeight: 1,
  styleWeight: 1,
  tvWeight: 0,
  tvPower: 1,
};

/** Forward passes at the yardstick's layers, one ORT session per image size. */
class Yardstick {
  private readonly extractors = new Map<string, TargetExtractor>();

  constructor(
    private readonly weights: BackboneWeights,
    private readonly threads: number | undefined,
    private readonly maxMemory: number,
  ) {}

  async features(image: RgbImage): Promise<Features> {
    const key = `${image.width}x${image.height}`;
    let extractor = this.extractors.get(key);
    if (!extractor) {
      const pixels = image.width * image.height;
      const windows = tilesWithin(YARDSTICK.model, YARDSTICK.styleLayers[4], image, planMemory(pixels, this.maxMemory)?.windowPixels);
      extractor = await TargetExtractor.create(YARDSTICK_FEATURES, this.weights, image, { threads: this.threads }, undefined, windows);
      this.extractors.set(key, extractor);
    }
    const out = await extractor.extract(backboneFor(YARDSTICK.model).toInput(image));
    const grams = new Map<string, Float64Array>();
    for (const layer of YARDSTICK.styleLayers) {
      const g = out.get(gramName(layer))!;
      const { width, height } = backboneFor(YARDSTICK.model).featureSize(image, layer);
      const pixels = width * height;
      grams.set(layer, Float64Array.from(g, (v) => v / pixels));
    }
    return { grams, content: out.get(featureName(YARDSTICK.contentLayer))! };
  }

  async release(): Promise<void> {
    for (const extractor of this.extractors.values()) await extractor.release();
  }
}
