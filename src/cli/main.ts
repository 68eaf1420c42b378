import { Command, CommanderError, Option } from "commander";
import path from "node:path";
import { isPasticheError, PasticheError } from "../errors.js";
import { checkOutputPath, writeFileAtomic, writeImageAtomic } from "../image/ImageIO.js";
import { MODEL_NAMES } from "../model/VggArchitecture.js";
import { PRESETS, PRESET_NAMES, type Preset } from "../pipeline/Presets.js";
import { stylize, type Checkpoint } from "../pipeline/Stylize.js";
import type { StylizeOptions } from "../pipeline/types.js";
import { parseBlend, parseLayers, parseNumber, parseScales } from "./parse.js";
import { ProgressDisplay } from "./ProgressDisplay.js";
import { reportScore, runReport } from "./Report.js";
import type { ScoreCliOptions } from "./score.js";
import type { ServeOptions } from "./serve.js";

/** "(preset default: seed 500, gatys 512, default 512)", so --help shows what each preset sets. */
function presetDefaults(describe: (p: Preset) => string): string {
  return `(preset defaults: ${PRESET_NAMES.map((n) => `${n} ${describe(PRESETS[n])}`).join("; ")})`;
}
const layerList = (layers: Preset["contentLayers"]) => layers.map((l) => l.layer).join(",");

interface CliOptions {
  output?: string;
  preset?: StylizeOptions["preset"];
  model?: StylizeOptions["model"];
  size?: number;
  square?: boolean;
  iterations?: number;
  evalsPerIteration?: number;
  optimizer?: StylizeOptions["optimizer"];
  lr?: number;
  contentWeight?: number;
  styleWeight?: number;
  tvWeight?: number;
  tvPower?: number;
  contentLayers?: StylizeOptions["contentLayers"];
  styleLayers?: StylizeOptions["styleLayers"];
  normalization?: StylizeOptions["normalization"];
  pooling?: StylizeOptions["pooling"];
  init?: StylizeOptions["init"];
  initImage?: string;
  seed?: number;
  styleBlend?: number[];
  styleScale?: number;
  preserveColors?: StylizeOptions["preserveColors"];
  mask?: string;
  scales?: StylizeOptions["scales"];
  coarseFactor?: number;
  saveEvery?: number;
  report?: string;
  threads?: number;
  weights?: string;
  maxInputPixels?: number;
  quiet?: boolean;
}

function buildProgram(run: (content: string, styles: string[], o: CliOptions) => Promise<void>): Command {
  // Before the sub-commands are added: they inherit it, so their errors also exit 2, not 1.
  const program = new Command("pastiche")
    .exitOverride()
    .description("Repaint a photo in the style of one or more paintings (Gatys et al. neural style transfer).")
    .argument("<content>", "the photo to repaint (JPEG, PNG, WebP, AVIF, TIFF, GIF)")
    .argument("<styles...>", "one or more style images")
    // Checked in stylizeToFile: commander would also demand a required root option of `serve`.
    .option("-o, --output <file>", "output image (required); .png, .jpg or .webp")
    .addOption(new Option("--preset <name>", "settings to start from; options below override single fields").choices(PRESET_NAMES).default("default"))
    .addOption(new Option("--model <name>", `network ${presetDefaults((p) => p.model)}`).choices(MODEL_NAMES))
    .option("--size <px>", `long edge of the output in pixels ${presetDefaults((p) => String(p.size))}`, parseNumber("--size"))
    .option("--square", "squash to size x size as the seed tutorial does (the seed preset sets it)")
    .option("--iterations <n>", `outer iterations per scale; L-BFGS restarts each time ${presetDefaults((p) => String(p.iterations))}`, parseNumber("--iterations"))
    .option("--evals-per-iteration <n>", `loss+gradient evaluations per outer iteration (scipy's maxfun) ${presetDefaults((p) => String(p.evalsPerIteration))}`, parseNumber("--evals-per-iteration"))
    .addOption(new Option("--optimizer <name>", "optimiser (default: lbfgs)").choices(["lbfgs", "adam"]))
    .option("--lr <rate>", "Adam's learning rate, in pixel units (default: 1)", parseNumber("--lr"))
    .option("--content-weight <w>", `weight of the content loss ${presetDefaults((p) => String(p.contentWeight))}`, parseNumber("--content-weight"))
    .option("--style-weight <w>", `weight of the style loss ${presetDefaults((p) => String(p.styleWeight))}`, parseNumber("--style-weight"))
    .option("--tv-weight <w>", `weight of the total-variation loss ${presetDefaults((p) => String(p.tvWeight))}`, parseNumber("--tv-weight"))
    .option("--tv-power <p>", "exponent of the total-variation loss, >= 1 (default: 1.25)", parseNumber("--tv-power"))
    .option("--content-layers <list>", `comma-separated layers, each with an optional :weight ${presetDefaults((p) => layerList(p.contentLayers))}`, parseLayers("--content-layers"))
    .option("--style-layers <list>", `comma-separated layers, each with an optional :weight ${presetDefaults((p) => layerList(p.styleLayers))}`, parseLayers("--style-layers"))
    .addOption(new Option("--normalization <mode>", `loss normalisation: seed = METHOD.md's, gatys = per layer, balanced = each layer relative to its target ${presetDefaults((p) => p.normalization)}`).choices(["seed", "gatys", "balanced"]))
    .addOption(new Option("--pooling <kind>", "pooling in the network (default: max)").choices(["max", "avg"]))
    .addOption(new Option("--init <kind>", `starting image; recolored = the photo in the painting's colours ${presetDefaults((p) => p.init)}`).choices(["noise", "content", "recolored", "style"]))
    .option("--init-image <file>", "start from this image instead")
    .option("--seed <n>", "seed of the noise start; the same seed gives the same picture (default: 0)", parseNumber("--seed"))
    .option("--style-blend <weights>", "comma-separated weights, one per style image (default: equal)", parseBlend)
    .option("--style-scale <k>", "style image size relative to the output, 0.25..4: larger gives larger brush strokes (default: 1)", parseNumber("--style-scale"))
    .option("--mask <file>", "region mask: black keeps the content; each other colour, in order of first appearance from the top-left, takes the style image of the same rank")
    .addOption(new Option("--preserve-colors <mode>", "keep the content's colours (default: none)").choices(["none", "luminance", "histogram"]))
    .option("--scales <n|auto>", `coarse-to-fine scales from ~128 px up in sqrt(2) steps ${presetDefaults((p) => String(p.scales))}`, parseScales)
    .option("--coarse-factor <k>", `each coarser scale runs k times the evaluations of the next finer one, 0.25..4 ${presetDefaults((p) => String(p.coarseFactor))}`, parseNumber("--coarse-factor"))
    .option("--save-every <n>", "also write the image every n outer iterations, as <output>-0005.png ...", parseNumber("--save-every"))
    .option("--report <file>", "write a JSON report: settings, weights file and checksum, machine, loss per evaluation")
    .option("--threads <n>", "compute threads (default: one per core)", parseNumber("--threads"))
    .option("--weights <file>", "a local Keras VGG .h5 weights file instead of the cached download")
    .option("--max-input-pixels <n>", "refuse input images with more pixels than this (default: 100000000)", parseNumber("--max-input-pixels"))
    .option("-q, --quiet", "print nothing but errors")
    .action((content: string, styles: string[], o: CliOptions) => run(content, styles, o));
  program
    .command("serve")
    .description("start the local web app")
    .option("--port <n>", "port (default: 8080)", parseNumber("--port"))
    .option("--host <address>", "address to bind (default: 127.0.0.1)")
    .option("--max-jobs <n>", "jobs run at once (default: 1)", parseNumber("--max-jobs"))
    .option("--max-queue <n>", "jobs waiting at most; more are refused (default: 8)", parseNumber("--max-queue"))
    .option("--memory-budget-mb <n>", "memory for running jobs; a job whose estimate does not fit is refused (default: 75% of RAM)", parseNumber("--memory-budget-mb"))
    .option("--max-upload-mb <n>", "largest uploaded file (default: 20)", parseNumber("--max-upload-mb"))
    .option("--weights <file>", "a local Keras VGG .h5 weights file")
    .addOption(new Option("--model <name>", "network for every job (default: each preset's)").choices(MODEL_NAMES))
    .option("--threads <n>", "compute threads per job (default: one per core)", parseNumber("--threads"))
    .option("--verbose", "log every request")
    .action(async (o: ServeOptions) => {
      // Loaded only for `serve`, so that plain runs do not pay for Fastify's start-up.
      const { serve } = await import("./serve.js");
      await serve(o);
    });
  program
    .command("score")
    .description(
      "judge images by a fixed yardstick: per-layer Gram error to the style(s) and feature error to the photo " +
        "(VGG19; 0 = identical, ~1 = unrelated); needs VGG19 weights",
    )
    .argument("<content>", "the photo")
    .argument("<styles...>", "the style image(s)")
    .requiredOption("--image <files...>", "the image(s) to score, e.g. outputs of different presets")
    .option("--style-blend <weights>", "comma-separated weights, one per style image (default: equal)", parseBlend)
    .option("--weights <file>", "a local Keras VGG19 .h5 weights file instead of the cached download")
    .option("--threads <n>", "compute threads (default: one per core)", parseNumber("--threads"))
    .option("--json", "one JSON object per image")
    .action(async (content: string, styles: string[], o: ScoreCliOptions) => {
      const { scoreImages } = await import("./score.js");
      await scoreImages(content, styles, o);
    });
  // Sub-commands read their own options (e.g. `serve --weights`); the root's come before them.
  program.enablePositionalOptions();
  program.showHelpAfterError("(run pastiche --help for every option)");
  return program;
}

async function stylizeToFile(content: string, styles: string[], o: CliOptions): Promise<void> {
  const output = o.output;
  if (!output) throw new PasticheError("BAD_OPTION", "no output file: add -o out.png (or .jpg, .webp)");
  const format = await checkOutputPath(output);
  if (o.saveEvery !== undefined && (!Number.isInteger(o.saveEvery) || o.saveEvery < 1)) {
    throw new PasticheError("BAD_OPTION", `--save-every must be a whole number >= 1, got ${o.saveEvery}`);
  }
  if (o.report) await checkReportPath(o.report);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const options: StylizeOptions = {
    content,
    styles,
    preset: o.preset,
    model: o.model,
    size: o.size,
    square: o.square,
    iterations: o.iterations,
    evalsPerIteration: o.evalsPerIteration,
    optimizer: o.optimizer,
    lr: o.lr,
    contentWeight: o.contentWeight,
    styleWeight: o.styleWeight,
    tvWeight: o.tvWeight,
    tvPower: o.tvPower,
    contentLayers: o.contentLayers,
    styleLayers: o.styleLayers,
    normalization: o.normalization,
    pooling: o.pooling,
    init: o.init,
    initImage: o.initImage,
    seed: o.seed,
    styleBlend: o.styleBlend,
    styleScale: o.styleScale,
    preserveColors: o.preserveColors,
    mask: o.mask,
    scales: o.scales,
    coarseFactor: o.coarseFactor,
    threads: o.threads,
    weights: o.weights,
    maxInputPixels: o.maxInputPixels,
    format,
    signal: abort.signal,
  };
  const display = new ProgressDisplay(o.quiet ?? false);
  const job = stylize(options);
  let lastCheckpoint: Checkpoint | undefined;
  let lastSaved: string | undefined;
  let pending: Promise<void> = Promise.resolve();
  job.on("progress", (p) => display.update(p));
  job.on("download", ({ received, total }) => display.download(received, total));
  job.on("notice", (text) => display.notice(text));
  job.on("checkpoint", (c) => {
    lastCheckpoint = c;
    if (o.saveEvery && c.iteration % o.saveEvery === 0) {
      // Bound now: when writes lag behind the run, lastSaved already names a later checkpoint.
      const file = numberedPath(output, c.iteration);
      lastSaved = file;
      // Checkpoints are written in order; a failure surfaces through the run's result.
      pending = pending.then(() => writeImageAtomic(file, c.image));
    }
  });

  try {
    const result = await job.result;
    await pending;
    await writeFileAtomic(output, result.image);
    if (o.report) await writeFileAtomic(o.report, JSON.stringify(runReport(options, result, await reportScore(options, result)), null, 2) + "\n");
    display.done(output, result);
  } catch (e) {
    await pending.catch(() => undefined);
    display.stop();
    if (isPasticheError(e) && e.code === "CANCELLED") {
      throw new PasticheError("CANCELLED", `cancelled; nothing was written to ${output}${lastSaved ? ` (the last checkpoint is ${lastSaved})` : ""}`);
    }
    if (isPasticheError(e) && e.code === "LOSS_NOT_FINITE") {
      const fix = "lower --content-weight, --style-weight or --tv-weight (or --lr with --optimizer adam)";
      if (!lastCheckpoint) throw new PasticheError("LOSS_NOT_FINITE", `${e.message}; nothing was written to ${output}: ${fix}`);
      const { image, iteration } = lastCheckpoint;
      await writeImageAtomic(output, image);
      // On a coarse-to-fine run the last good image may be from a smaller scale than asked for.
      throw new PasticheError(
        "LOSS_NOT_FINITE",
        `${e.message}; wrote the last good image (after iteration ${iteration}, ${image.width}x${image.height}) to ${output}: ${fix}`,
      );
    }
    throw e;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** out.png -> out-0005.png */
function numberedPath(output: string, iteration: number): string {
  const ext = path.extname(output);
  return `${output.slice(0, output.length - ext.length)}-${String(iteration).padStart(4, "0")}${ext}`;
}

async function checkReportPath(file: string): Promise<void> {
  if (path.extname(file).toLowerCase() !== ".json") throw new PasticheError("BAD_OPTION", `--report ${file}: the report file name must end in .json`);
  // Same folder checks as for images, via a sibling name with an image extension.
  await checkOutputPath(file.slice(0, -5) + ".png");
}

/**
 * Runs the CLI and returns the exit code: 0 done, 2 bad input or options (a PasticheError), 130
 * cancelled, 1 anything else (a bug).
 */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram(stylizeToFile);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has already printed its message (or the help).
      return e.exitCode === 0 ? 0 : 2;
    }
    if (isPasticheError(e)) {
      process.stderr.write(`pastiche: ${e.message}\n`);
      return e.code === "CANCELLED" ? 130 : 2;
    }
    process.stderr.write(`pastiche: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
