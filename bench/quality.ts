/**
 * Picture quality by the fixed yardstick (`pastiche score`): every content x style pair of
 * ../shared/images with one preset, timed end to end (weights, sessions, targets, optimisation),
 * each output scored and put on a contact sheet (a row per photo, a column per painting, the inputs
 * as headers).
 *
 *   node --import tsx bench/quality.ts [--preset default] [--size 512] [--contents astronaut,dog]
 *     [--styles starry-night,scream] [--pairs astronaut:wave,dog:scream] [--set '{"styleWeight":10}']
 *     [--out out/quality] [--sheet file.jpg] [--json] [--float32]
 *
 * --float32: each run's --max-memory just below what one session with float64 vectors needs, so
 * that the memory plan keeps the optimiser's vectors in float32 (and nothing else changes).
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp, { type OverlayOptions } from "sharp";
import { estimateRunBytes, planRun } from "../src/pipeline/MemoryBudget.js";
import { score, YARDSTICK, type ImageScore } from "../src/pipeline/Score.js";
import { stylize } from "../src/pipeline/Stylize.js";
import type { PresetName, StylizeOptions } from "../src/pipeline/types.js";
import { arg } from "./args.js";

const shared = (p: string) => fileURLToPath(new URL(`../../shared/${p}`, import.meta.url));
const WEIGHTS = shared("weights/vgg19_notop_8bit.h5");
const CONTENTS: Record<string, string> = {
  astronaut: "content-astronaut.png",
  building: "content-building.jpg",
  cat: "content-cat.png",
  coffee: "content-coffee.png",
  dog: "content-dog.jpg",
};
const STYLES: Record<string, string> = {
  "starry-night": "style-starry-night.jpg",
  scream: "style-scream.jpg",
  wave: "style-wave.jpg",
  udnie: "style-udnie.jpg",
};

interface Row {
  content: string;
  style: string;
  seconds: number;
  evaluations: number;
  score: ImageScore;
  output: string;
}

const pick = (list: string | undefined, all: Record<string, string>) => (list ? list.split(",") : Object.keys(all));
const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f2 = (v: number) => v.toFixed(2);

async function main(): Promise<void> {
  if (!existsSync(WEIGHTS)) throw new Error(`the shared VGG19 weights are missing (${WEIGHTS})`);
  const preset = (arg("--preset") ?? "default") as PresetName;
  const size = Number(arg("--size") ?? 512);
  const overrides = JSON.parse(arg("--set") ?? "{}") as Partial<StylizeOptions>;
  const out = arg("--out") ?? `out/quality-${preset}`;
  const json = process.argv.includes("--json");
  const contents = pick(arg("--contents"), CONTENTS);
  const styles = pick(arg("--styles"), STYLES);
  const pairs = arg("--pairs")?.split(",").map((p) => p.split(":"));
  const wanted = (content: string, style: string) => !pairs || pairs.some(([c, s]) => c === content && s === style);
  await mkdir(out, { recursive: true });

  const layers = YARDSTICK.styleLayers.map((l) => l.replace("block", "b").replace("_conv", "c"));
  if (!json) {
    console.log(`preset ${preset}, ${size} px, overrides ${JSON.stringify(overrides)}`);
    console.log(`| content | style | s | evals | style mean | ${layers.join(" | ")} | content |`);
    console.log(`|---|---|---|---|---|${layers.map(() => "---|").join("")}---|`);
  }
  const rows: Row[] = [];
  for (const content of contents) {
    for (const style of styles) {
      if (!wanted(content, style)) continue;
      const contentPath = shared(`images/${CONTENTS[content]}`);
      const stylePath = shared(`images/${STYLES[style]}`);
      const memory = process.argv.includes("--float32") ? { maxMemory: await float32Budget(preset, size, [contentPath, stylePath]) } : {};
      const started = performance.now();
      const result = await stylize({ content: contentPath, styles: [stylePath], preset, size, weights: WEIGHTS, ...memory, ...overrides }).result;
      const seconds = (performance.now() - started) / 1000;
      const output = join(out, `${content}--${style}.png`);
      await writeFile(output, result.image);
      const [s] = await score({ content: contentPath, styles: [stylePath], images: [result.image], weights: WEIGHTS });
      const row = { content, style, seconds, evaluations: result.evaluations.length, score: s, output };
      rows.push(row);
      if (json) console.log(JSON.stringify({ preset, size, overrides, ...row }));
      else {
        const perLayer = YARDSTICK.styleLayers.map((l) => f2(s.style[l]));
        console.log(`| ${content} | ${style} | ${seconds.toFixed(0)} | ${row.evaluations} | ${f2(s.styleMean)} | ${perLayer.join(" | ")} | ${f2(s.content)} |`);
      }
    }
  }
  const summary = {
    medianStyle: median(rows.map((r) => r.score.styleMean)),
    worstLayer: Math.max(...rows.flatMap((r) => Object.values(r.score.style))),
    medianContent: median(rows.map((r) => r.score.content)),
    medianSeconds: median(rows.map((r) => r.seconds)),
    maxSeconds: Math.max(...rows.map((r) => r.seconds)),
  };
  if (json) console.log(JSON.stringify({ summary }));
  else {
    console.log(
      `\nmedian style error ${f2(summary.medianStyle)}, worst layer ${f2(summary.worstLayer)}, median content error ${f2(summary.medianContent)}, ` +
        `median ${summary.medianSeconds.toFixed(0)} s (max ${summary.maxSeconds.toFixed(0)} s) per image`,
    );
  }
  const sheet = arg("--sheet") ?? join(out, "sheet.jpg");
  const ran = (names: string[], key: "content" | "style") => names.filter((n) => rows.some((r) => r[key] === n));
  await contactSheet(rows, ran(contents, "content"), ran(styles, "style"), sheet);
  if (!json) console.log(`contact sheet: ${sheet}`);
}

/** A memory budget whose plan is one session with float32 vectors. */
async function float32Budget(preset: PresetName, size: number, images: string[]): Promise<number> {
  const shape = { preset, size, inputs: await Promise.all(images.map(async (f) => sharp(f).metadata())) };
  const budget = Math.floor(estimateRunBytes(shape)) - 2 ** 20;
  const plan = planRun(shape, budget);
  if (plan?.precision !== "float32" || plan.windowPixels !== undefined) throw new Error(`no float32 one-session plan at ${size} px`);
  return budget;
}

/** A grid: paintings along the top, photos down the left, each output where its row and column meet. */
async function contactSheet(rows: Row[], contents: string[], styles: string[], file: string): Promise<void> {
  const cell = 200;
  const gap = 4;
  const tile = async (path: string) =>
    sharp(path).resize(cell, cell, { fit: "contain", background: "#ffffff" }).flatten({ background: "#ffffff" }).toBuffer();
  const at = (col: number, row: number) => ({ left: gap + col * (cell + gap), top: gap + row * (cell + gap) });
  const layers: OverlayOptions[] = [];
  for (const [c, style] of styles.entries()) layers.push({ input: await tile(shared(`images/${STYLES[style]}`)), ...at(c + 1, 0) });
  for (const [r, content] of contents.entries()) {
    layers.push({ input: await tile(shared(`images/${CONTENTS[content]}`)), ...at(0, r + 1) });
    for (const [c, style] of styles.entries()) {
      const row = rows.find((x) => x.content === content && x.style === style);
      if (row) layers.push({ input: await tile(row.output), ...at(c + 1, r + 1) });
    }
  }
  const width = gap + (styles.length + 1) * (cell + gap);
  const height = gap + (contents.length + 1) * (cell + gap);
  await sharp({ create: { width, height, channels: 3, background: "#ffffff" } })
    .composite(layers)
    .jpeg({ quality: 82, mozjpeg: true })
    .toFile(file);
}

await main();
