import { EventEmitter } from "node:events";
import { ObjectiveSession } from "../engine/ObjectiveSession.js";
import { TargetExtractor } from "../engine/TargetExtractor.js";
import { TiledObjectiveSession } from "../engine/TiledObjectiveSession.js";
import { PasticheError } from "../errors.js";
import { prepareTargets, termLayers } from "../objective/LossTerms.js";
import { deepestLayer } from "../objective/ObjectiveGraph.js";
import type { ObjectiveEvaluation, ObjectiveSpec, ObjectiveTargets } from "../objective/ObjectiveSpec.js";
import type { TargetImages } from "../objective/terms/LossTerm.js";
import { tilesWithin, type TilePlan } from "../objective/Tiles.js";
import { matchColorStatistics, matchLuminance, recombineLuminance, toLuminance } from "../image/ColorTransfer.js";
import { encodeImage, readImage, resizeTo, type RgbImage } from "../image/ImageIO.js";
import { Adam } from "../optim/Adam.js";
import { Lbfgs } from "../optim/Lbfgs.js";
import { newVector, vectorLike, type Optimizer, type Vector } from "../optim/Optimizer.js";
import { formatBytes } from "../util/Bytes.js";
import { mulberry32 } from "../util/Random.js";
import { backboneFor, type Backbone, type BackboneWeights } from "../backbone/Backbone.js";
import { pyramid, styleSize, workingSize, type Size } from "./Geometry.js";
import { checkMemoryBudget, defaultMemoryBudget, LBFGS_HISTORY, type ImageSize, type MemoryPlan } from "./MemoryBudget.js";
import { RegionMasks } from "./RegionMasks.js";
import { OPTIONS } from "./OptionSchema.js";
import { minimumSide, resolveSettings, type Settings } from "./Settings.js";
import type { DownloadProgress, Preview, Progress, StylizeOptions, StylizeResult } from "./types.js";

/** The image after an outer iteration, for checkpoints (`--save-every`) and for recovering from a NaN. */
export interface Checkpoint {
  readonly image: RgbImage;
  /** Outer iterations done so far, counted across all scales. */
  readonly iteration: number;
  readonly progress: Progress;
}

interface StylizeJobEvents {
  progress: [Progress];
  preview: [Preview];
  checkpoint: [Checkpoint];
  download: [DownloadProgress];
  notice: [string];
}

/**
 * One style-transfer run. Emits `progress` after every evaluation, `preview` every
 * `previewEvery` evaluations, `checkpoint` after every outer iteration, `download` while weights
 * are fetched and `notice` for information the user should see. `result` rejects with a
 * PasticheError (code CANCELLED when the signal aborts; it stops within one evaluation).
 */
export class StylizeJob extends EventEmitter<StylizeJobEvents> {
  readonly result: Promise<StylizeResult>;

  constructor(options: StylizeOptions) {
    super();
    // Start on the next tick so that the caller can attach listeners first.
    this.result = new Promise<void>((resolve) => setImmediate(resolve)).then(() => run(options, this));
    // The caller may only listen to events; an unobserved rejection must not crash the process.
    this.result.catch(() => undefined);
  }
}

export function stylize(options: StylizeOptions): StylizeJob {
  return new StylizeJob(options);
}

/**
 * How the run fits in memory (whole or in windows); refuses one that would not fit before the
 * weights are loaded or anything is computed.
 */
function planRunMemory(settings: Settings, inputs: ImageSize[]): MemoryPlan {
  const budget = settings.maxMemory ?? defaultMemoryBudget();
  const whose = settings.maxMemory === undefined ? "three quarters of this machine's memory; " : "";
  return checkMemoryBudget({ preset: settings.preset, size: settings.size, square: settings.square, inputs }, budget, {
    budget: (name) => `the ${formatBytes(budget)} this run may use (${whose}${name(OPTIONS.maxMemory)})`,
    smaller: (size) => (name) => `use ${name(OPTIONS.size)} ${size} or less`,
    none: (name) => `no size fits: use smaller input images, or raise ${name(OPTIONS.maxMemory)}`,
  });
}

async function run(options: StylizeOptions, job: StylizeJob): Promise<StylizeResult> {
  const settings = resolveSettings(options);
  const signal = options.signal;
  const limits = { maxPixels: settings.maxInputPixels };

  // Read and check every input before the expensive work, so bad input fails fast.
  const content = await readImage(options.content, { ...limits, label: "content image" });
  const styles = await Promise.all(
    options.styles.map((s, i) => readImage(s, { ...limits, label: options.styles.length > 1 ? `style image ${i + 1}` : "style image" })),
  );
  const initImage = options.initImage === undefined ? undefined : await readImage(options.initImage, { ...limits, label: "init image" });
  const inputs = [content, ...styles, ...(initImage ? [initImage] : [])];
  for (const img of inputs) for (const note of img.notes) job.emit("notice", note);
  const memory = planRunMemory(settings, inputs);

  const full = workingSize(content, settings);
  const minSide = minimumSide(settings);
  if (Math.min(full.width, full.height) < minSide) {
    throw new PasticheError(
      "INPUT_TOO_SMALL",
      (name) =>
        `the output would be ${full.width}x${full.height}, but ${settings.model} needs at least ${minSide} px on each side to reach its deepest layer used: ` +
        `raise ${name(OPTIONS.size)} or use shallower layers`,
    );
  }

  const backbone = backboneFor(settings.model);
  const weights = await backbone.obtainWeights({
    weights: options.weights,
    upTo: deepestLayer(settings.model, termLayers(settings)),
    onProgress: (received, total) => job.emit("download", { received, total }),
    signal,
  });
  if (weights.source.note) job.emit("notice", weights.source.note);

  const regions = options.mask === undefined ? undefined : await RegionMasks.read(options.mask, full, styles.length, settings);
  const { contentSource, styleSources } = colorSources(settings, content, styles);
  const scales = pyramid(full, settings.scales, minSide);
  const clock = new RunClock(settings, scales);
  const deepest = deepestLayer(settings.model, termLayers(settings));
  const tilesFor = (size: Size) => tilesWithin(settings.model, deepest, size, memory.windowPixels);
  if (memory.history < LBFGS_HISTORY && settings.optimizer === "lbfgs") {
    job.emit("notice", `L-BFGS keeps ${memory.history} correction pairs instead of ${LBFGS_HISTORY} to fit in memory`);
  }
  if (memory.precision === "float32") job.emit("notice", "the optimiser keeps its images in 32-bit floats (not 64) to fit in memory");
  const evaluations: StylizeResult["evaluations"] = [];

  let x: Vector | undefined;
  let size = scales[0];
  let iteration = 0;
  let finalLoss = NaN;
  for (let s = 0; s < scales.length; s++) {
    const previous = size;
    size = scales[s];
    const spec: ObjectiveSpec = {
      ...settings,
      height: size.height,
      width: size.width,
      pixelRatio: (full.width * full.height) / (size.width * size.height),
      styleRegions: regions ? styles.length : 0,
    };
    const contentAt = await resizeTo(contentSource, size.width, size.height);
    const targets = await computeTargets(spec, settings, weights, contentAt, styleSources, regions, tilesFor);
    x = x
      ? await upscale(backbone, x, contentSource, previous, size)
      : await initialImage(backbone, settings, contentAt, dominant(styleSources, settings.styleBlend), initImage, newVector(memory.precision, 3 * size.width * size.height), size);

    const tiles = tilesFor(size);
    if (tiles) job.emit("notice", `${size.width}x${size.height} is evaluated in ${tiles.tiles.length} windows of ${tiles.window.width}x${tiles.window.height} to fit in memory`);
    const session = tiles
      ? await TiledObjectiveSession.create(spec, weights, tiles, { threads: settings.threads })
      : await ObjectiveSession.create(spec, weights, { threads: settings.threads });
    try {
      session.setTargets(targets);
      const objective = async (point: Vector) => {
        if (signal?.aborted) throw new PasticheError("CANCELLED", "cancelled");
        const started = performance.now();
        const e = await session.evaluate(point, (done, total) => {
          if (done < total) job.emit("progress", clock.window(s, iteration, done, total, (performance.now() - started) / 1000));
        });
        const seconds = (performance.now() - started) / 1000;
        evaluations.push({ scale: s, loss: e.loss, terms: e.terms, seconds });
        const progress = clock.tick(s, iteration, seconds, e);
        if (!Number.isFinite(e.loss)) {
          // Named here, where the run's evaluation count and the terms are known; the optimiser
          // would only see its own call's count.
          throw new PasticheError(
            "LOSS_NOT_FINITE",
            `the loss is not finite at evaluation ${progress.evaluation} (${Object.entries(e.terms).map(([name, v]) => `${name} ${v}`).join(", ")})`,
          );
        }
        job.emit("progress", progress);
        if (settings.previewEvery > 0 && progress.evaluation % settings.previewEvery === 0) {
          const image = backbone.fromInput(point, size.width, size.height);
          job.emit("preview", { png: await encodeImage(image, "png"), width: size.width, height: size.height, progress });
        }
        return { value: e.loss, grad: e.grad };
      };
      // Balanced terms are O(1), so their per-pixel gradients fall below scipy's absolute pgtol
      // (1e-5) long before the picture is done: they run their whole budget.
      const pgtol = settings.normalization === "balanced" ? 0 : undefined;
      const evals = evalsAtScale(settings, s, scales.length);
      // L-BFGS restarts with fresh history every outer iteration, as the seed's repeated fmin_l_bfgs_b calls do.
      const optimizer: Optimizer =
        settings.optimizer === "adam" ? new Adam({ lr: settings.lr, steps: evals, signal }) : new Lbfgs({ maxfun: evals, pgtol, history: memory.history, signal });
      for (let i = 0; i < settings.iterations; i++) {
        const result = await optimizer.minimize(objective, x);
        x = result.x;
        finalLoss = result.value;
        iteration++;
        if (result.reason === "aborted") throw new PasticheError("CANCELLED", "cancelled");
        job.emit("checkpoint", { image: backbone.fromInput(x, size.width, size.height), iteration, progress: clock.current() });
      }
    } finally {
      await session.release();
    }
  }

  let output = backbone.fromInput(x!, full.width, full.height);
  if (settings.preserveColors === "luminance") output = recombineLuminance(output, await resizeTo(content, full.width, full.height));
  return {
    image: await encodeImage(output, settings.format),
    format: settings.format,
    pixels: output.data,
    width: output.width,
    height: output.height,
    finalLoss,
    evaluations,
    settings: { ...settings },
    weights: { path: weights.source.path, md5: weights.source.md5, catalogued: weights.source.catalogued },
  };
}

/**
 * The images the objective sees. Luminance mode (Gatys et al. 2016) transfers style between
 * luminance-only images, the style's luminance matched to the content's mean and spread, and puts
 * the content's chroma back at the end; histogram mode recolours each style image to the content's
 * colour mean and covariance first.
 */
function colorSources(settings: Settings, content: RgbImage, styles: RgbImage[]): { contentSource: RgbImage; styleSources: RgbImage[] } {
  if (settings.preserveColors === "luminance") {
    const contentLuma = toLuminance(content);
    return { contentSource: contentLuma, styleSources: styles.map((s) => matchLuminance(toLuminance(s), contentLuma)) };
  }
  if (settings.preserveColors === "histogram") {
    return { contentSource: content, styleSources: styles.map((s) => matchColorStatistics(s, content)) };
  }
  return { contentSource: content, styleSources: styles };
}

/**
 * The objective's targets at one scale: the content image and every style image (at its style size)
 * through the target graph, then each term's own preparation (objective/LossTerms).
 */
async function computeTargets(
  spec: ObjectiveSpec,
  settings: Settings,
  weights: BackboneWeights,
  content: RgbImage,
  styles: RgbImage[],
  regions: RegionMasks | undefined,
  tilesFor: (size: Size) => TilePlan | undefined,
): Promise<ObjectiveTargets> {
  // One forward-only session per image size: the seed's style image has the content's size.
  const extractors = new Map<string, TargetExtractor>();
  const extract = async (image: RgbImage) => {
    const key = `${image.width}x${image.height}`;
    let extractor = extractors.get(key);
    if (!extractor) {
      extractor = await TargetExtractor.create(spec, weights, image, { threads: settings.threads }, undefined, tilesFor(image));
      extractors.set(key, extractor);
    }
    return extractor.extract(backboneFor(spec.model).toInput(image));
  };
  try {
    const contentFeatures = await extract(content);
    const styleImages: TargetImages["styles"][number][] = [];
    for (let i = 0; i < styles.length; i++) {
      const size = styleSize(styles[i], spec, settings);
      const style = await resizeTo(styles[i], size.width, size.height);
      styleImages.push({ features: await extract(style), size, blend: settings.styleBlend[i] });
    }
    return prepareTargets(spec, {
      content: contentFeatures,
      styles: styleImages,
      regionMask: regions && ((style, layer) => regions.at(style, layer, spec)),
    });
  } finally {
    for (const extractor of extractors.values()) await extractor.release();
  }
}

/** The style with the largest blend weight (the first of equals). */
function dominant(styles: RgbImage[], blend: readonly number[]): RgbImage {
  return styles[blend.indexOf(Math.max(...blend))];
}

/** The first scale's start, written into x. */
async function initialImage(backbone: Backbone, settings: Settings, content: RgbImage, style: RgbImage, initImage: RgbImage | undefined, x: Vector, size: Size): Promise<Vector> {
  if (initImage) return backbone.toInput(await resizeTo(initImage, size.width, size.height), x);
  if (settings.init === "content") return backbone.toInput(content, x);
  if (settings.init === "style") return backbone.toInput(await resizeTo(style, size.width, size.height), x);
  if (settings.init === "recolored") return backbone.toInput(matchColorStatistics(content, style), x);
  // The seed's start: uniform noise in [0,255) minus 128, directly in pre-processed space.
  const rand = mulberry32(settings.seed);
  for (let i = 0; i < x.length; i++) x[i] = 255 * rand() - 128;
  return x;
}

/**
 * The previous scale's result, resized to the next scale, as its starting point. Upsampling loses
 * the detail the coarse scale could not hold, so the content's own detail band at the new scale
 * (the content minus its coarse-then-upsampled copy) is added back.
 */
async function upscale(backbone: Backbone, x: Vector, content: RgbImage, from: Size, to: Size): Promise<Vector> {
  const n = 3 * to.width * to.height;
  const up = backbone.toInput(await resizeTo(backbone.fromInput(x, from.width, from.height), to.width, to.height), vectorLike(x, n));
  const sharp = backbone.toInput(await resizeTo(content, to.width, to.height), vectorLike(x, n));
  const blurred = backbone.toInput(await resizeTo(await resizeTo(content, from.width, from.height), to.width, to.height), vectorLike(x, n));
  for (let i = 0; i < n; i++) up[i] += sharp[i] - blurred[i];
  return up;
}

/**
 * Evaluations per outer iteration at scale `s` of `count`: evalsPerIteration at the full size, times
 * coarseFactor for every step down, since a coarser evaluation costs about half as much.
 */
function evalsAtScale(settings: Pick<Settings, "evalsPerIteration" | "coarseFactor">, s: number, count: number): number {
  // At least one: a coarse factor below 1 must not round a coarse scale's budget down to nothing.
  return Math.max(1, Math.round(settings.evalsPerIteration * settings.coarseFactor ** (count - 1 - s)));
}

/**
 * Counts evaluations and estimates the time left. An evaluation's cost grows with the pixel count,
 * so the measured seconds per evaluation at the current scale are scaled to the later ones.
 */
class RunClock {
  private readonly started = performance.now();
  private evaluation = 0;
  private readonly perScale: number[];
  private last: Progress;

  constructor(
    private readonly settings: Settings,
    private readonly scales: readonly Size[],
  ) {
    this.perScale = scales.map((_, s) => settings.iterations * evalsAtScale(settings, s, scales.length));
    this.last = this.progress(0, 0, NaN, { loss: NaN, terms: {} });
  }

  tick(scale: number, iteration: number, seconds: number, e: Pick<ObjectiveEvaluation, "loss" | "terms">): Progress {
    this.evaluation++;
    this.last = this.progress(scale, iteration, seconds, e);
    return this.last;
  }

  current(): Progress {
    return this.last;
  }

  /** Progress within a tiled evaluation: `done` of its `total` window runs after `seconds`. */
  window(scale: number, iteration: number, done: number, total: number, seconds: number): Progress {
    const evaluation = this.progress(scale, iteration, (seconds * total) / done, this.last);
    return { ...evaluation, windows: { done, total }, etaS: evaluation.etaS - seconds };
  }

  private progress(scale: number, iteration: number, seconds: number, e: Pick<ObjectiveEvaluation, "loss" | "terms">): Progress {
    const pixels = (s: Size) => s.width * s.height;
    const here = this.scales[scale];
    const doneHere = this.evaluation - this.perScale.slice(0, scale).reduce((a, b) => a + b, 0);
    let eta = (this.perScale[scale] - doneHere) * seconds;
    for (let s = scale + 1; s < this.scales.length; s++) eta += this.perScale[s] * seconds * (pixels(this.scales[s]) / pixels(here));
    return {
      scale,
      scales: this.scales.length,
      iteration,
      iterations: this.settings.iterations * this.scales.length,
      evaluation: this.evaluation,
      evaluations: this.perScale.reduce((a, b) => a + b, 0),
      loss: e.loss,
      terms: e.terms,
      elapsedS: (performance.now() - this.started) / 1000,
      etaS: eta,
    };
  }
}
