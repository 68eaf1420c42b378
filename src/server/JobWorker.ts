import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { hostname } from "node:os";
import type { ModelName } from "../backbone/Backbone.js";
import { formatBytes } from "../util/Bytes.js";
import { TERMINAL_STATES, type JobOptions } from "./JobQueue.js";
import { jobFailure, runJob } from "./JobRun.js";
import { connectRedis, QUEUE_NAME, RedisJobStore, redisAddress, type JobRecord } from "./RedisJobStore.js";

export interface JobWorkerSettings {
  /** redis://HOST:PORT */
  url: string;
  /** Jobs run at once in this process. */
  concurrency: number;
  /** Running jobs' estimated peak memory may not add up to more than this; a job that does not fit waits for another worker. */
  memoryBudgetBytes: number;
  /** This machine's weights file, model and threads: they override the job's. */
  weights?: string;
  model?: ModelName;
  threads?: number;
}

/**
 * A worker that holds a job renews its lock every LOCK_MS / 2; a worker that has not for LOCK_MS
 * is taken for dead (killed, out of memory, cut off) and its job goes back to the queue, checked
 * every STALL_CHECK_MS. Long enough that a busy event loop (loading weights) is not mistaken for death.
 */
const LOCK_MS = 15_000;
const STALL_CHECK_MS = 5_000;
/** A job whose worker died this many times more fails (with a message saying so) rather than kill yet another worker. */
const MAX_STALLS = 2;
/** A job too big for a worker's budget goes back for another worker; after this many refusals it fails. */
const MAX_REFUSALS = 30;
const REFUSAL_DELAY_MS = 2_000;

interface JobData {
  id: string;
  refusals?: number;
}

interface Running {
  controller: AbortController;
  /** Aborted because this worker is stopping, not because the user cancelled: the job goes back to the queue. */
  requeue: boolean;
}

/**
 * Takes jobs from the Redis queue and runs them here, reporting progress, previews and the result
 * through Redis. Cancels reach it over pub/sub and stop the run within one evaluation. Closing
 * puts its running jobs back in the queue for another worker.
 */
export class JobWorker {
  readonly name = `${hostname()}:${process.pid}`;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly store: RedisJobStore;
  private readonly worker: Worker<JobData>;
  private readonly running = new Map<string, Running>();
  private usedBytes = 0;

  constructor(private readonly settings: JobWorkerSettings) {
    this.redis = connectRedis(settings.url, "patient");
    this.subscriber = connectRedis(settings.url, "patient");
    this.store = new RedisJobStore(this.redis);
    this.worker = new Worker<JobData>(QUEUE_NAME, (job, token) => this.process(job, token), {
      connection: this.redis,
      concurrency: settings.concurrency,
      lockDuration: LOCK_MS,
      stalledInterval: STALL_CHECK_MS,
      maxStalledCount: MAX_STALLS,
      autorun: false,
    });
    // Connection trouble is reported once per outage by connectRedis; BullMQ retries by itself.
    this.worker.on("error", () => undefined);
    this.worker.on("failed", (job, error) => void (job && this.failedByQueue(job.data.id, error).catch(() => undefined)));
  }

  /** Starts taking jobs; resolves once it listens for cancels. */
  async start(): Promise<void> {
    await RedisJobStore.listen(this.subscriber, { cancel: (id) => this.running.get(id)?.controller.abort() });
    void this.worker.run().catch((e: unknown) => console.error("pastiche: the worker stopped:", e));
    await this.worker.waitUntilReady();
  }

  describe(): string {
    const { concurrency, memoryBudgetBytes } = this.settings;
    return `worker ${this.name} takes jobs from Redis at ${redisAddress(this.settings.url)} ` +
      `(${concurrency} at a time, memory budget ${formatBytes(memoryBudgetBytes)})`;
  }

  /** Takes no more jobs, stops the running ones within one evaluation and puts them back in the queue. */
  async close(): Promise<void> {
    for (const run of this.running.values()) {
      run.requeue = true;
      run.controller.abort();
    }
    await this.worker.close();
    this.subscriber.disconnect();
    this.redis.disconnect();
  }

  private async process(job: Job<JobData>, token: string | undefined): Promise<void> {
    const { id } = job.data;
    const record = await this.store.read(id);
    // Expired, forgotten or already ended (cancelled while BullMQ handed it over): nothing to run.
    if (!record || TERMINAL_STATES.has(record.state)) return;
    if (record.cancelRequested) {
      return this.store.finish(id, record, "cancelled", { code: "CANCELLED", message: "Cancelled before it started" });
    }
    if (record.memoryBytes > this.settings.memoryBudgetBytes) return this.refuse(job, token, record);
    // It fits this worker, but not beside the jobs running here now: back to the queue, for another worker or for later.
    if (this.usedBytes + record.memoryBytes > this.settings.memoryBudgetBytes) return this.postpone(job, token);

    const inputs = await this.store.inputs(id, record.styles);
    if (!inputs) {
      return this.store.finish(id, record, "failed", { code: "EXPIRED", message: "The job's images expired from the queue before a worker was free" });
    }
    const run: Running = { controller: new AbortController(), requeue: false };
    this.running.set(id, run);
    this.usedBytes += record.memoryBytes;
    try {
      // Still "running" in the record: the worker that had it stopped answering and BullMQ handed it on.
      if (record.state === "running") {
        await this.store.addNotice(id, `Its worker ${record.worker} stopped responding (killed, or out of memory?): started again on ${this.name}`);
      }
      await this.store.update(id, { state: "running", startedAt: Date.now(), progress: null, previewSeq: null, worker: this.name });
      this.log(id, "started");
      // A cancel published before this worker listened for it is still in the record.
      if ((await this.store.read(id))?.cancelRequested) run.controller.abort();
      const options = this.options(record, inputs);
      let previews = 0;
      // The run's events are written in order, and all before the job's end: a late preview must not outlive the result.
      let writes: Promise<unknown> = Promise.resolve();
      const write = (step: () => Promise<unknown>) => (writes = writes.then(step).catch(() => undefined));
      const output = await runJob(options, run.controller.signal, {
        progress: (progress) => write(() => Promise.all([this.store.set(id, { progress }), this.store.publish({ id, type: "progress", progress })])),
        notice: (notice) => write(() => Promise.all([this.store.addNotice(id, notice), this.store.publish({ id, type: "notice", notice })])),
        download: (download) => write(() => this.store.publish({ id, type: "download", download })),
        preview: (preview) => write(() => this.store.setPreview(id, preview.png, ++previews, record.ttlSeconds)),
      }).finally(() => writes);
      await this.store.finish(id, record, "done", null, output);
      this.log(id, "done");
    } catch (e) {
      if (run.requeue) {
        this.log(id, "put back in the queue");
        await this.requeued(id, `Its worker (${this.name}) was stopped: it starts again on another worker`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      const { state, error } = jobFailure(id, e);
      await this.store.finish(id, record, state, error);
      this.log(id, `${state}: ${error.message}`);
    } finally {
      this.running.delete(id);
      this.usedBytes -= record.memoryBytes;
    }
  }

  /** One line per job and step, for whoever runs the worker. */
  private log(id: string, what: string): void {
    console.log(`${new Date().toISOString()} job ${id} ${what}`);
  }

  /** The job's options with this machine's weights, model, threads and memory budget. */
  private options(record: JobRecord, [content, ...styles]: Buffer[]): JobOptions {
    const { weights, model, threads, memoryBudgetBytes } = this.settings;
    return {
      ...record.options,
      content,
      styles,
      ...(weights !== undefined && { weights }),
      ...(model !== undefined && { model }),
      ...(threads !== undefined && { threads }),
      maxMemory: memoryBudgetBytes,
    };
  }

  /** Hands a job bigger than this worker's memory budget back to the queue, for a worker with a larger one. */
  private async refuse(job: Job<JobData>, token: string | undefined, record: JobRecord): Promise<void> {
    const refusals = (job.data.refusals ?? 0) + 1;
    if (refusals > MAX_REFUSALS) {
      await this.store.finish(job.data.id, record, "failed", {
        code: "TOO_MUCH_MEMORY",
        message:
          `No worker had room for this job: it needs about ${formatBytes(record.memoryBytes)} of memory, more than ` +
          `the workers' memory budgets allowed (this one's is ${formatBytes(this.settings.memoryBudgetBytes)}): choose a smaller size`,
      });
      throw new UnrecoverableError("no worker had room for the job");
    }
    await job.updateData({ ...job.data, refusals });
    this.log(
      job.data.id,
      `needs about ${formatBytes(record.memoryBytes)} of memory, more than this worker's budget of ` +
        `${formatBytes(this.settings.memoryBudgetBytes)}: handed back`,
    );
    return this.postpone(job, token);
  }

  private async postpone(job: Job<JobData>, token: string | undefined): Promise<void> {
    await job.moveToDelayed(Date.now() + REFUSAL_DELAY_MS, token);
    throw new DelayedError();
  }

  private async requeued(id: string, notice: string): Promise<void> {
    const record = await this.store.read(id);
    if (!record || TERMINAL_STATES.has(record.state)) return;
    await this.store.addNotice(id, notice);
    await this.store.update(id, { state: "queued", progress: null, previewSeq: null, worker: null });
  }

  /** BullMQ failed the job itself (its workers died too often): the record says so, the job is not silently lost. */
  private async failedByQueue(id: string, error: Error): Promise<void> {
    const record = await this.store.read(id);
    if (!record || TERMINAL_STATES.has(record.state)) return;
    const stalled = /stalled/.test(error.message);
    await this.store.finish(id, record, "failed", {
      code: stalled ? "WORKER_LOST" : "INTERNAL",
      message: stalled
        ? `The job's worker stopped mid-run ${MAX_STALLS + 1} times (killed, or out of memory?): giving up`
        : `The job failed in the queue: ${error.message}`,
    });
  }
}
