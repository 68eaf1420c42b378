/**
 * Load check for the Redis queue: 40 small jobs at once against `pastiche serve --redis
 * --workers 0` with 1, 2 and 4 `pastiche worker` processes (--threads 1 each) on this machine,
 * each round on a fresh redis-server of its own. Reports throughput, time from submission to done
 * (p50, p95), jobs lost (any that did not end done, must be 0) and each process's peak RSS.
 *
 *   node --import tsx bench/cluster-load.ts [--jobs 40] [--workers 1,2,4] [--size 48] [--evals 8]
 *
 * Weights: PASTICHE_WEIGHTS, or the shared test weights next to the repository. Needs redis-server.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ROOT, servedUrl, startProcess, type Started } from "../test/helpers/processes.js";
import { RedisServer } from "../test/helpers/redisServer.js";
import { Client, gradientPng, isEnd, jobForm, postJob, readEvents, texturePng } from "../test/helpers/serverClient.js";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "40" },
    workers: { type: "string", default: "1,2,4" },
    size: { type: "string", default: "48" },
    evals: { type: "string", default: "8" },
  },
});
const jobs = Number(values.jobs);
const rounds = values.workers.split(",").map(Number);
/** A round gives up after this, so the benchmark always ends. */
const ROUND_DEADLINE_MS = 15 * 60_000;

const weights =
  process.env.PASTICHE_WEIGHTS ?? fileURLToPath(new URL("../../shared/weights/vgg19_notop_8bit.h5", import.meta.url));
if (!existsSync(weights)) {
  console.error(`No weights at ${weights}: set PASTICHE_WEIGHTS to a VGG19 notop .h5 file`);
  process.exit(2);
}

/** `pastiche` from the sources, allowed to run as long as a round may. */
const pastiche = (args: string[]): Started =>
  startProcess(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/bin.ts"), ...args], { timeoutMs: ROUND_DEADLINE_MS + 60_000 });

/** Peak resident memory of a live process (VmHWM), in MiB. */
function peakRssMiB(started: Started): number {
  const status = readFileSync(`/proc/${started.child.pid}/status`, "utf8");
  return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024);
}

async function ready(started: Started, pattern: RegExp): Promise<void> {
  let seen = "";
  await new Promise<void>((resolve, reject) => {
    started.child.stdout!.on("data", (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) resolve();
    });
    void started.exit.then((r) => reject(new Error(`exited early (code ${r.code}): ${r.stderr}`)));
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

interface Round {
  workers: number;
  done: number;
  lost: number;
  why: string[];
  jobsPerMinute: number;
  p50: number;
  p95: number;
  serveRss: number;
  workerRss: number[];
}

const content = await gradientPng(64, 48);
const style = await texturePng(48, 48);
const fields = { preset: "gatys", size: values.size, iterations: "1", evalsPerIteration: values.evals };
const results: Round[] = [];

for (const count of rounds) {
  const redis = await RedisServer.start();
  const serve = pastiche(["serve", "--port", "0", "--redis", redis.url, "--workers", "0", "--max-queue", String(jobs)]);
  const workers = Array.from({ length: count }, () =>
    pastiche(["worker", "--redis", redis.url, "--weights", weights, "--model", "vgg19", "--threads", "1"]),
  );
  try {
    const [url] = await Promise.all([servedUrl(serve), ...workers.map((w) => ready(w, /waiting for jobs/))]);
    const base = new URL(url).origin;
    const t0 = Date.now();
    const deadline = t0 + ROUND_DEADLINE_MS;
    const outcomes = await Promise.all(
      Array.from({ length: jobs }, async (): Promise<{ doneS: number } | { lost: string }> => {
        // Each job from its own client, as from many users.
        const client = new Client(base);
        try {
          const created = await postJob(client, jobForm([{ name: "content", bytes: content }, { name: "style", bytes: style }], fields));
          if (created.status !== 202) return { lost: `HTTP ${created.status}: ${JSON.stringify(created.body)}` };
          const end = (await readEvents(client, `/api/jobs/${created.body.id}/events`, isEnd, deadline - Date.now())).at(-1);
          if (end?.event !== "done") return { lost: `ended ${end?.event}: ${JSON.stringify(end?.data?.error)}` };
          const png = await client.fetch(end.data.resultUrl);
          if (png.status !== 200) return { lost: `done, but the result answered ${png.status}` };
          await png.arrayBuffer();
          return { doneS: (Date.now() - t0) / 1000 };
        } catch (e) {
          return { lost: String(e) };
        }
      }),
    );
    const times = outcomes.flatMap((o) => ("doneS" in o ? [o.doneS] : [])).sort((a, b) => a - b);
    const why = outcomes.flatMap((o) => ("lost" in o ? [o.lost] : []));
    results.push({
      workers: count,
      done: times.length,
      lost: why.length,
      why: [...new Set(why)],
      jobsPerMinute: times.length / (times.at(-1)! / 60),
      p50: percentile(times, 50),
      p95: percentile(times, 95),
      serveRss: peakRssMiB(serve),
      workerRss: workers.map(peakRssMiB),
    });
  } finally {
    for (const p of [serve, ...workers]) p.child.kill("SIGKILL");
    await Promise.all([serve, ...workers].map((p) => p.exit));
    await redis.destroy();
  }
}

console.log(`${jobs} jobs (${fields.preset}, ${values.size} px, ${values.evals} evaluations) submitted at once; times from submission`);
console.log("| workers | done | lost | jobs/min | p50 to done | p95 to done | peak RSS serve | peak RSS per worker |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of results) {
  console.log(
    `| ${r.workers} | ${r.done} | ${r.lost} | ${r.jobsPerMinute.toFixed(1)} | ${r.p50.toFixed(1)} s | ${r.p95.toFixed(1)} s | ` +
      `${r.serveRss} MiB | ${r.workerRss.map((m) => `${m}`).join(", ")} MiB |`,
  );
  for (const why of r.why) console.log(`  lost: ${why}`);
}
