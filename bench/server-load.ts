/**
 * Load check for the web app: submits many small jobs at once to an in-process server with its
 * default queue limits and reports what happened to each. Every job must end up finished, failed
 * or refused with a clear answer; "lost" counts any that did not, and must be 0.
 *
 *   node --import tsx bench/server-load.ts [--jobs 20] [--size 40] [--evals 6] [--max-jobs 1] [--max-queue 8] [--upload-mib 0]
 *
 * --upload-mib N sends a content image of about N MiB (incompressible noise) instead of a tiny one.
 * Memory: RSS and Buffer bytes before the first job and after all have ended (after a full GC), so
 * that what finished jobs keep shows.
 *
 * Weights: PASTICHE_WEIGHTS, or the shared test weights next to the repository.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import sharp from "sharp";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client, gradientPng, isEnd, jobForm, postJob, readEvents, startServer, texturePng } from "../test/helpers/serverClient.js";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "20" },
    size: { type: "string", default: "40" },
    evals: { type: "string", default: "6" },
    "max-jobs": { type: "string", default: "1" },
    "max-queue": { type: "string", default: "8" },
    "upload-mib": { type: "string", default: "0" },
  },
});
const uploadMiB = Number(values["upload-mib"]);
const jobs = Number(values.jobs);
const maxRunning = Number(values["max-jobs"]);
const maxQueued = Number(values["max-queue"]);
/** The whole benchmark gives up after this, so it always ends. */
const DEADLINE_MS = 15 * 60_000;

const weights =
  process.env.PASTICHE_WEIGHTS ?? fileURLToPath(new URL("../../shared/weights/vgg19_notop_8bit.h5", import.meta.url));
if (!existsSync(weights)) {
  console.error(`No weights at ${weights}: set PASTICHE_WEIGHTS to a VGG19 notop .h5 file`);
  process.exit(2);
}

type Outcome =
  | { kind: "finished"; seconds: number }
  | { kind: "failed"; code: string; message: string }
  | { kind: "refused"; status: number; code: string; message: string }
  | { kind: "lost"; why: string };

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const MiB = 2 ** 20;
/** Resident and Buffer memory after a full collection, in MiB. */
function memory(): { rssMiB: number; buffersMiB: number } {
  gc();
  const m = process.memoryUsage();
  return { rssMiB: Math.round(m.rss / MiB), buffersMiB: Math.round(m.arrayBuffers / MiB) };
}

/** Random pixels, so that PNG cannot compress them: about `mib` MiB of file. */
async function noisePng(mib: number): Promise<Buffer> {
  const side = Math.round(Math.sqrt((mib * MiB) / 3));
  const data = randomBytes(side * side * 3);
  return sharp(data, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
}

const started = Date.now();
const deadline = started + DEADLINE_MS;
const server = await startServer({ weights, maxRunning, maxQueued, previewEvery: 3, maxUploadBytes: Math.max(20, uploadMiB + 1) * MiB });
const outcomes: Outcome[] = [];
let before = memory();
let after = before;
try {
  const content = uploadMiB > 0 ? await noisePng(uploadMiB) : await gradientPng(64, 48);
  before = memory();
  const style = await texturePng(48, 48);
  const fields = { preset: "gatys", size: values.size, iterations: "1", evalsPerIteration: values.evals };
  const files = [
    { name: "content", bytes: content },
    { name: "style", bytes: style },
  ];

  outcomes.push(
    ...(await Promise.all(
      Array.from({ length: jobs }, async (): Promise<Outcome> => {
        // Each job from its own client, as from many users.
        const client = new Client(server.base);
        let created;
        try {
          created = await postJob(client, jobForm(files, fields));
        } catch (e) {
          return { kind: "lost", why: `request failed: ${String(e)}` };
        }
        if (created.status !== 202) {
          const error = created.body?.error;
          if (!error?.code || !error?.message) return { kind: "lost", why: `HTTP ${created.status} without an error body` };
          return { kind: "refused", status: created.status, code: error.code, message: error.message };
        }
        try {
          const events = await readEvents(client, `/api/jobs/${created.body.id}/events`, isEnd, deadline - Date.now());
          const end = events.at(-1);
          if (!end || !isEnd(end)) return { kind: "lost", why: "the event stream ended without done or failed" };
          if (end.event === "failed") return { kind: "failed", code: end.data.error.code, message: end.data.error.message };
          const png = await client.fetch(end.data.resultUrl);
          if (png.status !== 200) return { kind: "lost", why: `done, but the result answered ${png.status}` };
          await png.arrayBuffer();
          return { kind: "finished", seconds: end.data.result.seconds };
        } catch (e) {
          return { kind: "lost", why: String(e) };
        }
      }),
    )),
  );
  // Every job has ended here; the server still holds its 50 finished ones.
  after = memory();
} finally {
  await server.app.close();
}

const totalS = (Date.now() - started) / 1000;
const count = (kind: Outcome["kind"]) => outcomes.filter((o) => o.kind === kind).length;
const refusals = new Map<string, number>();
for (const o of outcomes) {
  if (o.kind === "refused") {
    const key = `${o.status} ${o.code}: ${o.message}`;
    refusals.set(key, (refusals.get(key) ?? 0) + 1);
  }
}
const runSeconds = outcomes.flatMap((o) => (o.kind === "finished" ? [o.seconds] : []));
// maxRSS is in KiB on Linux; in-process, so it includes this script's own (small) client side.
const peakRssMiB = process.resourceUsage().maxRSS / 1024;

const summary = {
  jobs,
  maxRunning,
  maxQueued,
  finished: count("finished"),
  failed: count("failed"),
  refused: count("refused"),
  lost: count("lost"),
  refusals: Object.fromEntries(refusals),
  failures: outcomes.flatMap((o) => (o.kind === "failed" ? [`${o.code}: ${o.message}`] : [])),
  lostWhy: outcomes.flatMap((o) => (o.kind === "lost" ? [o.why] : [])),
  meanRunSeconds: runSeconds.length ? Number((runSeconds.reduce((a, b) => a + b, 0) / runSeconds.length).toFixed(2)) : null,
  totalSeconds: Number(totalS.toFixed(1)),
  peakRssMiB: Number(peakRssMiB.toFixed(0)),
  uploadMiB,
  rssBeforeMiB: before.rssMiB,
  rssAfterMiB: after.rssMiB,
  buffersBeforeMiB: before.buffersMiB,
  buffersAfterMiB: after.buffersMiB,
};

console.table({
  finished: summary.finished,
  failed: summary.failed,
  refused: summary.refused,
  lost: summary.lost,
  "total s": summary.totalSeconds,
  "peak RSS MiB": summary.peakRssMiB,
  "RSS before / after MiB": `${before.rssMiB} / ${after.rssMiB}`,
  "Buffers before / after MiB": `${before.buffersMiB} / ${after.buffersMiB}`,
});
for (const [why, n] of refusals) console.log(`refused x${n}: ${why}`);
console.log(JSON.stringify(summary, null, 2));
process.exitCode = summary.lost === 0 ? 0 : 1;
