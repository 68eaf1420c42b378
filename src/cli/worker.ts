import { access } from "node:fs/promises";
import { PasticheError } from "../errors.js";
import type { ModelName } from "../backbone/Backbone.js";
import { wholeNumber } from "../options/Check.js";
import { defaultMemoryBudget } from "../pipeline/MemoryBudget.js";
import { OPTIONS } from "../pipeline/OptionSchema.js";
import { JobWorker } from "../server/JobWorker.js";
import { checkRedisUrl } from "../server/RedisJobStore.js";
import { runUntilSignal } from "./Shutdown.js";

/** `pastiche worker` options, as the command line gives them (already parsed). */
export interface WorkerCliOptions {
  redis: string;
  concurrency?: number;
  weights?: string;
  model?: ModelName;
  threads?: number;
  /** Bytes (the run option --max-memory). */
  maxMemory?: number;
}

/**
 * Runs jobs from the Redis queue of `pastiche serve --redis` on this machine until SIGINT or
 * SIGTERM; its running jobs then go back to the queue for another worker.
 */
export async function work(opts: WorkerCliOptions): Promise<void> {
  checkRedisUrl(opts.redis);
  const concurrency = wholeNumber({ key: "concurrency", label: "concurrency" }, opts.concurrency ?? 1, 1, 64);
  if (opts.threads !== undefined) OPTIONS.threads.kind.check(OPTIONS.threads, opts.threads);
  if (opts.weights !== undefined) {
    // Found out now rather than by every job this worker takes.
    await access(opts.weights).catch(() => {
      throw new PasticheError("WEIGHTS_MISSING", `--weights ${opts.weights}: no such file on this machine`);
    });
  }
  const worker = new JobWorker({
    url: opts.redis,
    concurrency,
    memoryBudgetBytes: opts.maxMemory ?? defaultMemoryBudget(),
    weights: opts.weights,
    model: opts.model,
    threads: opts.threads,
  });
  console.log(`Pastiche ${worker.describe()}, once Redis answers  (Ctrl+C to stop)`);
  await worker.start();
  console.log("Connected: waiting for jobs");
  await runUntilSignal((signal) => `${signal}: stopping; running jobs go back to the queue…`, () => worker.close());
}
