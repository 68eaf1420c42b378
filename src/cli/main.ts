import { Command, CommanderError, Option } from "commander";
import path from "node:path";
import { isPasticheError, PasticheError, type OptionNamer } from "../errors.js";
import { checkOutputPath, checkWritablePath, writeFileAtomic, writeImageAtomic } from "../image/ImageIO.js";
import { MODEL_NAMES } from "../backbone/Backbone.js";
import { wholeNumber } from "../options/Check.js";
import { OPTION_KEYS, OPTIONS, type OptionSpec, type OptionValues } from "../pipeline/OptionSchema.js";
import { PRESETS, PRESET_NAMES, type Preset } from "../pipeline/Presets.js";
import { stylize, type Checkpoint } from "../pipeline/Stylize.js";
import type { StylizeOptions } from "../pipeline/types.js";
import { parseNumber, parseWith } from "./parse.js";
import { PROGRESS_FORMATS, progressReporter, writeFailure, type ProgressFormat } from "./ProgressReporter.js";
import { reportScore, runReport } from "./Report.js";
import type { ScoreCliOptions } from "./score.js";
import type { ServeOptions } from "./serve.js";
import type { WorkerCliOptions } from "./worker.js";
import { packageVersion } from "./version.js";
import { addWeightsCommand } from "./weights.js";

/** CLI-only options; every other one comes from the option schema. */
interface CliOptions extends OptionValues {
  output?: string;
  saveEvery?: number;
  report?: string;
  quiet?: boolean;
  progress?: ProgressFormat;
}

const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Messages name options by flag, after the option's words when those differ from the flag's: "TV power (--tv-power)". */
export const nameByFlag: OptionNamer = (option) => {
  const flag = flagOf(option.key);
  return option.label === flag.slice(2).replaceAll("-", " ") ? flag : `${option.label} (${flag})`;
};

/** "(default: 1)", or "(preset defaults: seed 500; gatys 512; default 512)" when the presets differ. */
function presetDefaults<T>(spec: OptionSpec<T>): string {
  const shown = PRESET_NAMES.map((n) => spec.kind.show(PRESETS[n][spec.key as keyof Preset] as T));
  if (new Set(shown).size === 1) return ` (default: ${shown[0]})`;
  return ` (preset defaults: ${PRESET_NAMES.map((n, i) => `${n} ${shown[i]}`).join("; ")})`;
}

/** The commander option of a schema entry: its flag, help with its defaults, parser and choices. */
function cliOption<T>(spec: OptionSpec<T>): Option {
  const flag = flagOf(spec.key);
  const option = new Option(spec.kind.arg ? `${flag} ${spec.kind.arg}` : flag, spec.help + (spec.default === "preset" ? presetDefaults(spec) : ""));
  if (spec.default !== undefined && spec.default !== "preset") option.default(spec.default);
  if (spec.kind.choices) return option.choices(spec.kind.choices);
  return spec.kind.parse ? option.argParser(parseWith(flag, spec.kind.parse)) : option;
}

/** The Redis server of the job queue shared by `serve --redis` and `worker`. */
const redisOption = () => new Option("--redis <url>", "keep jobs in this Redis server (redis://HOST:PORT), where `pastiche worker` processes on any machine run them");

function buildProgram(run: (content: string, styles: string[], o: CliOptions) => Promise<void>): Command {
  // Before the sub-commands are added: they inherit it, so their errors also exit 2, not 1.
  const program = new Command("pastiche")
    .exitOverride()
    .description("Repaint a photo in the style of one or more paintings (Gatys et al. neural style transfer).")
    .version(packageVersion())
    .argument("<content>", "the photo to repaint (JPEG, PNG, WebP, AVIF, TIFF, GIF)")
    .argument("<styles...>", "one or more style images")
    // Checked in stylizeToFile: commander would also demand a required root option of `serve`.
    .option("-o, --output <file>", "output image (required); .png, .jpg or .webp");
  for (const key of OPTION_KEYS) if (OPTIONS[key].cliFlag !== false) program.addOption(cliOption(OPTIONS[key] as OptionSpec<unknown>));
  program
    .option("--save-every <n>", "also write the image every n outer iterations, as <output>-0005.png ...", parseNumber("--save-every"))
    .option("--report <file>", "write a JSON report: settings, weights file and checksum, machine, loss per evaluation")
    .option("-q, --quiet", "print nothing but errors")
    .addOption(new Option("--progress <format>", "bar: a live bar on a terminal, else a line per iteration; json: one JSON object per event and line, on stderr (default: bar)").choices(PROGRESS_FORMATS).conflicts("quiet"))
    .action((content: string, styles: string[], o: CliOptions) => run(content, styles, o));
  program
    .command("serve")
    .description("start the local web app")
    .option("--port <n>", "port (default: 8080)", parseNumber("--port"))
    .option("--host <address>", "address to bind (default: 127.0.0.1)")
    .option("--max-jobs <n>", "jobs run at once (default: 1)", parseNumber("--max-jobs"))
    .option("--max-queue <n>", "jobs waiting at most; more are refused (default: 8)", parseNumber("--max-queue"))
    .addOption(cliOption({ ...OPTIONS.maxMemory, help: "memory for the jobs running at once, e.g. 8G or 6000M; a job whose estimate does not fit is refused (default: 75% of RAM)" }))
    .option("--max-upload-mb <n>", "largest uploaded file (default: 20)", parseNumber("--max-upload-mb"))
    .option("--weights <file>", "a local Keras VGG .h5 weights file")
    .addOption(new Option("--model <name>", "network for every job (default: each preset's)").choices(MODEL_NAMES))
    .option("--threads <n>", "compute threads per job (default: one per core)", parseNumber("--threads"))
    .option("--token <secret>", "access token every client must give (default: none on 127.0.0.1, a random one printed in the address otherwise)")
    .option("--allowed-host <name...>", "host names clients may use besides localhost and IP addresses (default: none)")
    .option("--verbose", "log every request")
    .addOption(redisOption())
    .option("--workers <n>", "with --redis: jobs this process runs at once (default: 1; 0 = web only)", parseNumber("--workers"))
    .option("--expire-hours <n>", "with --redis: how long finished jobs and their results stay in Redis (default: 24)", parseNumber("--expire-hours"))
    .action(async (o: ServeOptions) => {
      // Loaded only for `serve`, so that plain runs do not pay for Fastify's start-up.
      const { serve } = await import("./serve.js");
      await serve(o);
    });
  program
    .command("worker")
    .description("run the jobs of a `serve --redis` queue on this machine (any machine that reaches the Redis server)")
    .addOption(redisOption().makeOptionMandatory())
    .option("--concurrency <n>", "jobs run at once (default: 1)", parseNumber("--concurrency"))
    .addOption(cliOption(OPTIONS.weights))
    .addOption(cliOption(OPTIONS.model))
    .addOption(cliOption(OPTIONS.threads))
    .addOption(cliOption(OPTIONS.maxMemory))
    .action(async (o: WorkerCliOptions) => {
      const { work } = await import("./worker.js");
      await work(o);
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
    .option("--style-blend <weights>", OPTIONS.styleBlend.help, parseWith("--style-blend", OPTIONS.styleBlend.kind.parse!))
    .option("--weights <file>", "a local Keras VGG19 .h5 weights file instead of the cached download")
    .option("--threads <n>", "compute threads (default: one per core)", parseNumber("--threads"))
    .option("--json", "one JSON object per image")
    .action(async (content: string, styles: string[], o: ScoreCliOptions) => {
      const { scoreImages } = await import("./score.js");
      await scoreImages(content, styles, o);
    });
  addWeightsCommand(program);
  // Sub-commands read their own options (e.g. `serve --weights`); the root's come before them.
  program.enablePositionalOptions();
  program.showHelpAfterError("(run pastiche --help for every option)");
  return program;
}

async function stylizeToFile(content: string, styles: string[], o: CliOptions): Promise<void> {
  const output = o.output;
  if (!output) throw new PasticheError("BAD_OPTION", "no output file: add -o out.png (or .jpg, .webp)");
  const format = await checkOutputPath(output);
  if (o.saveEvery !== undefined) wholeNumber({ key: "saveEvery", label: "save every" }, o.saveEvery, 1);
  if (o.report) await checkReportPath(o.report);
  const abort = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    stoppedBy = signal;
    abort.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const given = Object.fromEntries(OPTION_KEYS.filter((key) => o[key] !== undefined).map((key) => [key, o[key]]));
  const options: StylizeOptions = { ...given, content, styles, format, signal: abort.signal };
  const display = progressReporter(o.progress ?? "bar", o.quiet ?? false);
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
      pending = pending.then(() => writeImageAtomic(file, c.image)).then(() => display.checkpoint(c, file));
    } else {
      display.checkpoint(c);
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
      const message = `cancelled; nothing was written to ${output}${lastSaved ? ` (the last checkpoint is ${lastSaved})` : ""}`;
      // The cause tells main which exit code the signal calls for.
      throw new PasticheError("CANCELLED", message, { cause: stoppedBy });
    }
    if (isPasticheError(e) && e.code === "LOSS_NOT_FINITE") {
      const fix = "lower --content-weight, --style-weight or --tv-weight (or --lr with --optimizer adam)";
      if (!lastCheckpoint) throw new PasticheError("LOSS_NOT_FINITE", `${e.describe(nameByFlag)}; nothing was written to ${output}: ${fix}`);
      const { image, iteration } = lastCheckpoint;
      await writeImageAtomic(output, image);
      // On a coarse-to-fine run the last good image may be from a smaller scale than asked for.
      throw new PasticheError(
        "LOSS_NOT_FINITE",
        `${e.describe(nameByFlag)}; wrote the last good image (after iteration ${iteration}, ${image.width}x${image.height}) to ${output}: ${fix}`,
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
  await checkWritablePath(file);
}

/**
 * Runs the CLI and returns the exit code: 0 done, 2 bad input or options (a PasticheError), 130
 * cancelled by Ctrl-C, 143 by SIGTERM, 1 anything else (a bug).
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
    const format = program.opts<CliOptions>().progress;
    if (isPasticheError(e)) {
      writeFailure(format, e.code, e.describe(nameByFlag));
      // 128 + the signal's number, as shells report it: SIGINT 130, SIGTERM 143.
      if (e.code === "CANCELLED") return e.cause === "SIGTERM" ? 143 : 130;
      return 2;
    }
    writeFailure(format, "INTERNAL", `internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}
