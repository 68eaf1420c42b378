import { Queue } from "bullmq";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { Redis } from "ioredis";
import { isPasticheError, PasticheError } from "../errors.js";
import { ApiError } from "./ApiError.js";
import { jobUrls, TERMINAL_STATES, type JobEvent, type JobQueue, type JobStatus, type JobSubmission } from "./JobQueue.js";
import { connectRedis, QUEUE_NAME, RedisJobStore, redisAddress, type JobMessage, type JobRecord } from "./RedisJobStore.js";

/** How long a request waits for a connection to Redis being made before it is answered 503. */
const CONNECT_WAIT_MS = 1_000;

export interface RedisQueueSettings {
  /** redis://HOST:PORT */
  url: string;
  /** Jobs waiting for a worker at most; more are refused with 503. */
  maxQueued: number;
  /** How long a finished job and its result stay in Redis; a job waiting longer than this is lost. */
  expirySeconds: number;
}

/** What this server last told the pages watching a job, so that it tells them only what changed. */
interface Watched {
  listeners: Set<(event: JobEvent) => void>;
  owner: string;
  state: JobStatus["state"];
  position: number | null;
  previewUrl: string | null;
}

/**
 * The job queue in Redis (BullMQ), for jobs that outlive the server and run on workers on any
 * machine that reaches Redis (`pastiche worker`, or `serve --workers N` in this process). The
 * server only submits, reads and cancels; workers publish every change, which this relays to the
 * pages watching. While Redis is away every request is answered 503 (QUEUE_UNAVAILABLE).
 */
export class RedisJobQueue implements JobQueue {
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly store: RedisJobStore;
  private readonly queue: Queue;
  private readonly watched = new Map<string, Watched>();
  /** Messages are handled one after another, so that a page hears a job's events in order. */
  private delivery: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly settings: RedisQueueSettings) {
    this.redis = connectRedis(settings.url, "fail-fast");
    this.subscriber = connectRedis(settings.url, "patient");
    this.store = new RedisJobStore(this.redis);
    this.queue = new Queue(QUEUE_NAME, { connection: this.redis });
    // BullMQ reports connection errors here too; connectRedis already says when Redis goes away.
    this.queue.on("error", () => undefined);
    // Sent once Redis answers (and again after each reconnection); it fails only when the queue closes first.
    RedisJobStore.listen(this.subscriber, {
      message: (message) => (this.delivery = this.delivery.then(() => this.relay(message)).catch(() => undefined)),
    }).catch(() => undefined);
  }

  async assertRoom(): Promise<void> {
    if (this.closed) throw new PasticheError("QUEUE_FULL", "The server is shutting down and takes no new jobs");
    const waiting = await this.reach(() => this.queue.getJobCountByTypes("waiting", "delayed"));
    if (waiting >= this.settings.maxQueued) {
      throw new PasticheError(
        "QUEUE_FULL",
        `The queue is full (${waiting} jobs wait for a worker, at most ${this.settings.maxQueued} may wait): ` +
          `try again when a job has finished`,
      );
    }
  }

  async submit(submission: JobSubmission): Promise<JobStatus> {
    await this.assertRoom();
    const id = randomBytes(16).toString("hex");
    return this.reach(async () => {
      await this.store.create(id, submission, this.settings.expirySeconds);
      await this.queue.add("stylize", { id }, {
        jobId: id,
        // Our record keeps what pages see; BullMQ's own copy is not needed once the job has ended.
        removeOnComplete: true,
        removeOnFail: true,
      });
      return this.status(id, (await this.store.read(id))!, await this.waitingIds());
    });
  }

  async get(id: string, owner: string): Promise<JobStatus | undefined> {
    return this.reach(async () => {
      const record = await this.find(id, owner);
      return record && this.status(id, record, record.state === "queued" ? await this.waitingIds() : []);
    });
  }

  async list(owner: string): Promise<JobStatus[]> {
    return this.reach(async () => {
      const ids = await this.store.idsOf(owner);
      const records = await this.store.readMany(ids);
      await this.store.forgetIds(owner, ids.filter((_, i) => records[i] === undefined));
      const waiting = records.some((r) => r?.state === "queued") ? await this.waitingIds() : [];
      return ids.flatMap((id, i) => (records[i] ? [this.status(id, records[i], waiting)] : []));
    });
  }

  async previewPng(id: string, owner: string): Promise<Buffer | undefined> {
    return this.reach(async () => ((await this.find(id, owner)) && (await this.store.previewPng(id))) ?? undefined);
  }

  async resultPng(id: string, owner: string): Promise<Buffer | undefined> {
    return this.reach(async () => ((await this.find(id, owner)) && (await this.store.resultPng(id))) ?? undefined);
  }

  async cancel(id: string, owner: string): Promise<JobStatus | undefined> {
    return this.reach(async () => {
      const record = await this.find(id, owner);
      if (!record) return undefined;
      if (TERMINAL_STATES.has(record.state)) {
        await this.store.remove(id, record);
        return this.status(id, record, []);
      }
      // Removing fails (0) once a worker holds the job: then it is running and that worker is told to stop.
      if (record.state === "queued" && (await this.queue.remove(id)) === 1) {
        await this.store.finish(id, record, "cancelled", { code: "CANCELLED", message: "Cancelled before it started" });
      } else {
        await this.store.update(id, { cancelRequested: true });
        await this.store.requestCancel(id);
      }
      return this.status(id, (await this.store.read(id))!, await this.waitingIds());
    });
  }

  async watch(id: string, owner: string, listener: (event: JobEvent) => void): Promise<(() => void) | undefined> {
    const status = await this.get(id, owner);
    if (!status) return undefined;
    let watched = this.watched.get(id);
    if (!watched) {
      watched = { listeners: new Set(), owner, state: status.state, position: status.position, previewUrl: status.previewUrl };
      this.watched.set(id, watched);
    }
    const entry = watched;
    entry.listeners.add(listener);
    return () => {
      entry.listeners.delete(listener);
      if (entry.listeners.size === 0 && this.watched.get(id) === entry) this.watched.delete(id);
    };
  }

  /** Stops relaying and disconnects; the jobs stay in Redis for the next server and keep running on the workers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [id, watched] of this.watched) {
      this.watched.delete(id);
      watched.listeners.clear();
    }
    await this.queue.close().catch(() => undefined);
    this.subscriber.disconnect();
    this.redis.disconnect();
  }

  private async find(id: string, owner: string): Promise<JobRecord | undefined> {
    const record = await this.store.read(id);
    return record?.owner === owner ? record : undefined;
  }

  /** Ids of the jobs waiting for a worker, the next to start first. */
  private waitingIds(): Promise<string[]> {
    return this.queue.getRanges(["waiting", "delayed"], 0, -1, true);
  }

  private status(id: string, r: JobRecord, waitingIds: string[]): JobStatus {
    const queuedAt = waitingIds.indexOf(id);
    // A job just taken by a worker that has not yet said so is first in line.
    const position = r.state === "running" ? 0 : r.state === "queued" ? (queuedAt < 0 ? 1 : queuedAt + 1) : null;
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      id,
      state: r.state,
      position,
      cancelRequested: r.cancelRequested,
      createdAt: iso(r.createdAt)!,
      startedAt: iso(r.startedAt),
      finishedAt: iso(r.finishedAt),
      memoryBytes: r.memoryBytes,
      request: r.request,
      progress: r.progress,
      ...jobUrls(id, r.previewSeq, r.result !== null),
      result: r.result && { ...r.result, seconds: r.startedAt && r.finishedAt ? (r.finishedAt - r.startedAt) / 1000 : 0 },
      error: r.error,
      notices: r.notices,
    };
  }

  /** Turns a worker's message into the events of the pages watching its job; any change may move other jobs up the queue. */
  private async relay(message: JobMessage): Promise<void> {
    const watched = this.watched.get(message.id);
    if (message.type === "progress") return this.emit(watched, { type: "progress", progress: message.progress });
    if (message.type === "notice") return this.emit(watched, { type: "notice", notice: message.notice });
    if (message.type === "download") return this.emit(watched, { type: "download", download: message.download });
    if (this.watched.size === 0) return;
    const waiting = await this.waitingIds();
    for (const [id, w] of this.watched) {
      if (id !== message.id && w.state !== "queued") continue;
      const record = await this.find(id, w.owner);
      if (!record) continue;
      const status = this.status(id, record, waiting);
      if (TERMINAL_STATES.has(status.state)) {
        this.emit(w, { type: "end", status });
        this.watched.delete(id);
      } else if (status.previewUrl !== w.previewUrl && status.previewUrl !== null) {
        this.emit(w, { type: "preview", status });
      } else if (status.state !== w.state || status.position !== w.position || id === message.id) {
        this.emit(w, { type: "status", status });
      }
      Object.assign(w, { state: status.state, position: status.position, previewUrl: status.previewUrl });
    }
  }

  private emit(watched: Watched | undefined, event: JobEvent): void {
    for (const listener of [...(watched?.listeners ?? [])]) listener(event);
  }

  /**
   * Waits a moment for a connection that is being made (at start-up, or reconnecting after a
   * blip) rather than failing a request that would succeed a second later.
   */
  private async connected(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      once(this.redis, "ready"),
      new Promise((resolve) => (timer = setTimeout(resolve, CONNECT_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  /** Runs a Redis operation; Redis being unreachable becomes a 503 that says so. */
  private async reach<T>(operation: () => Promise<T>): Promise<T> {
    try {
      if (this.redis.status !== "ready") await this.connected();
      return await operation();
    } catch (e) {
      if (isPasticheError(e) || e instanceof ApiError) throw e;
      // The client hears what it can do; the process log already says why (see connectRedis).
      throw new ApiError(
        503,
        "QUEUE_UNAVAILABLE",
        `The job queue is unavailable: the server cannot reach its Redis server at ${redisAddress(this.settings.url)}. ` +
          `Try again in a minute; if it lasts, whoever runs the server should check that Redis is running`,
      );
    }
  }
}
