import { Redis, type RedisOptions } from "ioredis";
import { PasticheError } from "../errors.js";
import type { DownloadProgress, Progress } from "../pipeline/types.js";
import type {
  JobError,
  JobOptions,
  JobResultSummary,
  JobState,
  JobSubmission,
  JobSummary,
} from "./JobQueue.js";
import type { JobOutput } from "./JobRun.js";

/** The BullMQ queue every `serve --redis` and `worker` on one Redis shares. */
export const QUEUE_NAME = "pastiche";
const PREFIX = "pastiche";
/** Workers publish a job's events here; every server relays those of the jobs its pages watch. */
const EVENTS_CHANNEL = `${PREFIX}:events`;
/** Servers publish the id of a job to stop here; the worker running it aborts the run. */
const CANCEL_CHANNEL = `${PREFIX}:cancel`;

/**
 * One job as Redis keeps it, in a hash beside its binary images, so that any server can answer for
 * it and any worker can run it. BullMQ carries only the job's id: it decides who runs what and
 * notices dead workers; this record is what pages see.
 */
export interface JobRecord {
  owner: string;
  state: JobState;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  memoryBytes: number;
  request: JobSummary;
  /** The run's options without the images (binary keys of their own) and without the submitting machine's own settings. */
  options: Omit<JobOptions, "content" | "styles" | "weights" | "threads" | "maxMemory">;
  styles: number;
  /** How long the job's keys live once it has finished (and at most while it waits). */
  ttlSeconds: number;
  progress: Progress | null;
  previewSeq: number | null;
  result: Omit<JobResultSummary, "seconds"> | null;
  error: JobError | null;
  notices: string[];
  cancelRequested: boolean;
  /** Which worker runs or ran it (host:pid), for the logs. */
  worker: string | null;
}

/** What a worker publishes about a job; "changed" means: read the record again. */
export type JobMessage =
  | { id: string; type: "changed" }
  | { id: string; type: "progress"; progress: Progress }
  | { id: string; type: "notice"; notice: string }
  | { id: string; type: "download"; download: DownloadProgress };

/**
 * A connection to the Redis at `url`. A server's fails fast while Redis is away (requests are
 * answered 503 instead of hanging); a worker's waits for it to come back, as BullMQ's workers must.
 */
export function connectRedis(url: string, mode: "fail-fast" | "patient"): Redis {
  checkRedisUrl(url);
  const options: RedisOptions =
    mode === "fail-fast"
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 }
      : { maxRetriesPerRequest: null };
  // Reconnect for ever, at most 2 s apart: Redis coming back is the normal end of an outage.
  const redis = new Redis(url, { ...options, retryStrategy: (times) => Math.min(times * 200, 2_000), lazyConnect: true });
  let reported = false;
  // Without a listener ioredis prints every failed reconnection; one line per outage is enough.
  redis.on("error", (e: Error) => {
    if (reported) return;
    reported = true;
    console.error(`pastiche: Redis at ${redisAddress(url)}: ${e.message}; retrying`);
  });
  redis.on("ready", () => {
    if (reported) console.error(`pastiche: Redis at ${redisAddress(url)} is back`);
    reported = false;
  });
  redis.connect().catch(() => undefined);
  return redis;
}

export function checkRedisUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // Reported below.
  }
  if (!parsed || (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") || parsed.hostname === "") {
    throw new PasticheError("BAD_OPTION", `--redis ${url}: give the Redis server as redis://HOST:PORT (or rediss:// for TLS)`);
  }
}

/** host:port of a Redis URL, without any password it may carry, for messages. */
export function redisAddress(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || "6379"}`;
}

const recordKey = (id: string) => `${PREFIX}:job:${id}`;
const contentKey = (id: string) => `${recordKey(id)}:content`;
const styleKey = (id: string, i: number) => `${recordKey(id)}:style:${i}`;
const previewKey = (id: string) => `${recordKey(id)}:preview`;
const resultKey = (id: string) => `${recordKey(id)}:result`;
const noticesKey = (id: string) => `${recordKey(id)}:notices`;
const ownerKey = (owner: string) => `${PREFIX}:owner:${owner}`;
const inputKeys = (id: string, styles: number) => [contentKey(id), ...Array.from({ length: styles }, (_, i) => styleKey(id, i))];

/** Reads and writes job records; servers and workers share it. */
export class RedisJobStore {
  constructor(readonly redis: Redis) {}

  async create(id: string, submission: JobSubmission, ttlSeconds: number): Promise<void> {
    // The weights file, threads and memory budget belong to the machine that runs the job: each worker sets its own.
    const { content, styles, weights: _weights, threads: _threads, maxMemory: _maxMemory, ...options } = submission.options;
    if (!Buffer.isBuffer(content) || !styles.every((s) => Buffer.isBuffer(s))) {
      throw new Error("a queued job's images must be uploaded bytes, not file paths");
    }
    const record: JobRecord = {
      owner: submission.owner,
      state: "queued",
      createdAt: Date.now(),
      startedAt: null,
      finishedAt: null,
      memoryBytes: submission.memoryBytes,
      request: submission.summary,
      options,
      styles: styles.length,
      ttlSeconds,
      progress: null,
      previewSeq: null,
      result: null,
      error: null,
      notices: [],
      cancelRequested: false,
      worker: null,
    };
    const ms = ttlSeconds * 1000;
    const multi = this.redis.multi().hset(recordKey(id), encode(record)).pexpire(recordKey(id), ms);
    [content as Buffer, ...(styles as Buffer[])].forEach((bytes, i) => multi.set(inputKeys(id, styles.length)[i], bytes, "PX", ms));
    multi.zadd(ownerKey(submission.owner), record.createdAt, id).pexpire(ownerKey(submission.owner), ms);
    await exec(multi);
  }

  async read(id: string): Promise<JobRecord | undefined> {
    return (await this.readMany([id]))[0];
  }

  /** The owner's job ids, oldest first; ids whose records have expired are dropped. */
  async idsOf(owner: string): Promise<string[]> {
    return this.redis.zrange(ownerKey(owner), 0, -1);
  }

  async readMany(ids: string[]): Promise<(JobRecord | undefined)[]> {
    const multi = this.redis.multi();
    for (const id of ids) multi.hgetall(recordKey(id)).lrange(noticesKey(id), 0, -1);
    const replies = await exec(multi);
    return ids.map((_, i) => decode(replies[2 * i] as Record<string, string>, replies[2 * i + 1] as string[]));
  }

  async forgetIds(owner: string, ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.zrem(ownerKey(owner), ...ids);
  }

  async inputs(id: string, styles: number): Promise<Buffer[] | undefined> {
    const buffers = await Promise.all(inputKeys(id, styles).map((key) => this.redis.getBuffer(key)));
    return buffers.every((b): b is Buffer => b !== null) ? buffers : undefined;
  }

  previewPng(id: string): Promise<Buffer | null> {
    return this.redis.getBuffer(previewKey(id));
  }

  resultPng(id: string): Promise<Buffer | null> {
    return this.redis.getBuffer(resultKey(id));
  }

  /** Sets fields of a job that exists: a record that has expired or was forgotten is not brought back. */
  async set(id: string, fields: Partial<JobRecord>): Promise<void> {
    // HSET on a missing key would create a record without an owner; check and set in one step.
    await this.redis.eval(
      "if redis.call('exists', KEYS[1]) == 1 then redis.call('hset', KEYS[1], unpack(ARGV)) end",
      1,
      recordKey(id),
      ...Object.entries(encode(fields)).flat(),
    );
  }

  /** Appends a notice (a list of its own: workers add to it while servers read). */
  async addNotice(id: string, notice: string): Promise<void> {
    await this.redis.eval(
      "local ttl = redis.call('pttl', KEYS[1]) if ttl > 0 then redis.call('rpush', KEYS[2], ARGV[1]) redis.call('pexpire', KEYS[2], ttl) end",
      2,
      recordKey(id),
      noticesKey(id),
      notice,
    );
  }

  /** Sets fields and tells the servers that the job's status changed. */
  async update(id: string, fields: Partial<JobRecord>): Promise<void> {
    await this.set(id, fields);
    await this.publish({ id, type: "changed" });
  }

  async setPreview(id: string, png: Buffer, seq: number, ttlSeconds: number): Promise<void> {
    await this.redis.set(previewKey(id), png, "PX", ttlSeconds * 1000);
    await this.update(id, { previewSeq: seq });
  }

  /** Ends a job: its result (if done) is kept for its time to live, its inputs and preview are dropped. */
  async finish(id: string, record: JobRecord, state: JobState, error: JobError | null, output?: JobOutput): Promise<void> {
    const ms = record.ttlSeconds * 1000;
    const multi = this.redis.multi();
    if (output) multi.set(resultKey(id), output.png, "PX", ms);
    multi.del(previewKey(id), ...inputKeys(id, record.styles));
    await exec(multi);
    const result = output ? { width: output.width, height: output.height, finalLoss: output.finalLoss, evaluations: output.evaluations } : null;
    await this.update(id, { state, error, finishedAt: Date.now(), previewSeq: null, result });
    await exec(this.redis.multi().pexpire(recordKey(id), ms).pexpire(noticesKey(id), ms));
  }

  /** Forgets a finished job and its result. */
  async remove(id: string, record: JobRecord): Promise<void> {
    await exec(
      this.redis
        .multi()
        .del(recordKey(id), noticesKey(id), previewKey(id), resultKey(id), ...inputKeys(id, record.styles))
        .zrem(ownerKey(record.owner), id),
    );
  }

  publish(message: JobMessage): Promise<number> {
    return this.redis.publish(EVENTS_CHANNEL, JSON.stringify(message));
  }

  requestCancel(id: string): Promise<number> {
    return this.redis.publish(CANCEL_CHANNEL, id);
  }

  /** Calls `onMessage` for every job message (servers) and `onCancel` for every cancel request (workers), on `subscriber`. */
  static async listen(
    subscriber: Redis,
    on: { message?: (message: JobMessage) => void; cancel?: (id: string) => void },
  ): Promise<void> {
    subscriber.on("message", (channel: string, text: string) => {
      if (channel === EVENTS_CHANNEL) on.message?.(JSON.parse(text) as JobMessage);
      else if (channel === CANCEL_CHANNEL) on.cancel?.(text);
    });
    const channels = [on.message && EVENTS_CHANNEL, on.cancel && CANCEL_CHANNEL].filter((c): c is string => !!c);
    // ioredis subscribes again by itself after a reconnection.
    await subscriber.subscribe(...channels);
  }
}

/** Every field as JSON, so that numbers, nulls and objects come back as they went in; the notices are a list of their own. */
function encode(fields: Partial<JobRecord>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).filter(([k]) => k !== "notices").map(([k, v]) => [k, JSON.stringify(v)]));
}

function decode(fields: Record<string, string>, notices: string[]): JobRecord | undefined {
  if (fields.owner === undefined) return undefined;
  return { ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, JSON.parse(v)])), notices } as unknown as JobRecord;
}

/** A transaction's results, throwing the first command's error. */
async function exec(multi: ReturnType<Redis["multi"]>): Promise<unknown[]> {
  const results = (await multi.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  return results.map(([, value]) => value);
}
