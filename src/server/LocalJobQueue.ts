import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { PasticheError } from "../errors.js";
import type { Progress } from "../pipeline/types.js";
import { formatBytes } from "../util/Bytes.js";
import {
  jobUrls,
  TERMINAL_STATES,
  type JobError,
  type JobEvent,
  type JobOptions,
  type JobQueue,
  type JobState,
  type JobStatus,
  type JobSubmission,
  type JobSummary,
} from "./JobQueue.js";
import { jobFailure, runJob, type JobOutput } from "./JobRun.js";

interface Job {
  id: string;
  owner: string;
  state: JobState;
  /** Until the job ends: its input images are dropped then, since they can be large. */
  options: JobOptions | null;
  memoryBytes: number;
  summary: JobSummary;
  controller: AbortController;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  progress: Progress | null;
  preview: { png: Buffer; seq: number } | null;
  result: JobOutput | null;
  error: JobError | null;
  notices: string[];
  /** Emits "event" (JobEvent) to everyone watching. */
  events: EventEmitter;
  /** Resolves when the job has finished, whichever way. */
  settled: Promise<void>;
  settle: () => void;
}

export interface JobQueueLimits {
  maxRunning: number;
  maxQueued: number;
  memoryBudgetBytes: number;
  maxHistory: number;
}

/**
 * The in-process queue, which needs nothing but this process: jobs run here, first come, first
 * served, at most `maxRunning` at once and only while their estimated memory fits the budget
 * together. A job never overtakes an earlier one, so a big job cannot starve behind a stream of
 * small ones. Jobs live as long as the process.
 */
export class LocalJobQueue implements JobQueue {
  private readonly jobs = new Map<string, Job>();
  private readonly waiting: Job[] = [];
  private readonly running = new Set<Job>();
  private closed = false;

  constructor(private readonly limits: JobQueueLimits) {}

  async submit(submission: JobSubmission): Promise<JobStatus> {
    if (this.closed) throw this.fullError();
    if (submission.memoryBytes > this.limits.memoryBudgetBytes) {
      // The caller words the refusal for people; this guards the queue against a job that could never start.
      throw new PasticheError(
        "TOO_MUCH_MEMORY",
        `This job needs about ${formatBytes(submission.memoryBytes)}, more than the server's memory budget of ` +
          `${formatBytes(this.limits.memoryBudgetBytes)}`,
      );
    }
    const wouldWait = this.waiting.length > 0 || !this.canStart(submission.memoryBytes);
    if (wouldWait && this.waiting.length >= this.limits.maxQueued) throw this.fullError();
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const job: Job = {
      // 128 random bits: an id cannot be guessed (ownership is checked as well).
      id: randomBytes(16).toString("hex"),
      owner: submission.owner,
      state: "queued",
      options: submission.options,
      memoryBytes: submission.memoryBytes,
      summary: submission.summary,
      controller: new AbortController(),
      createdAt: new Date(),
      startedAt: null,
      finishedAt: null,
      progress: null,
      preview: null,
      result: null,
      error: null,
      notices: [],
      // Every open page showing the job listens; the default cap of 10 would only warn.
      events: new EventEmitter().setMaxListeners(0),
      settled,
      settle,
    };
    this.jobs.set(job.id, job);
    this.waiting.push(job);
    this.pump();
    return this.status(job);
  }

  async assertRoom(): Promise<void> {
    const mustWait = this.waiting.length > 0 || this.running.size >= this.limits.maxRunning;
    if (this.closed || (mustWait && this.waiting.length >= this.limits.maxQueued)) throw this.fullError();
  }

  private fullError(): PasticheError {
    if (this.closed) return new PasticheError("QUEUE_FULL", "The server is shutting down and takes no new jobs");
    return new PasticheError(
      "QUEUE_FULL",
      `The queue is full (${this.running.size} running, ${this.waiting.length} waiting, at most ` +
        `${this.limits.maxQueued} may wait): try again when a job has finished`,
    );
  }

  async get(id: string, owner: string): Promise<JobStatus | undefined> {
    const job = this.find(id, owner);
    return job && this.status(job);
  }

  async list(owner: string): Promise<JobStatus[]> {
    return [...this.jobs.values()].filter((job) => job.owner === owner).map((job) => this.status(job));
  }

  async previewPng(id: string, owner: string): Promise<Buffer | undefined> {
    return this.find(id, owner)?.preview?.png;
  }

  async resultPng(id: string, owner: string): Promise<Buffer | undefined> {
    return this.find(id, owner)?.result?.png;
  }

  async watch(id: string, owner: string, listener: (event: JobEvent) => void): Promise<(() => void) | undefined> {
    const job = this.find(id, owner);
    if (!job) return undefined;
    job.events.on("event", listener);
    return () => job.events.off("event", listener);
  }

  private find(id: string, owner: string): Job | undefined {
    const job = this.jobs.get(id);
    return job?.owner === owner ? job : undefined;
  }

  async cancel(id: string, owner: string): Promise<JobStatus | undefined> {
    const job = this.find(id, owner);
    return job && this.cancelJob(job);
  }

  private cancelJob(job: Job): JobStatus {
    if (TERMINAL_STATES.has(job.state)) {
      this.jobs.delete(job.id);
      return this.status(job);
    }
    if (job.state === "queued") {
      this.waiting.splice(this.waiting.indexOf(job), 1);
      this.finish(job, "cancelled", { code: "CANCELLED", message: "Cancelled before it started" });
      this.announcePositions();
    } else {
      job.controller.abort();
      this.emit(job, { type: "status", status: this.status(job) });
    }
    return this.status(job);
  }

  /** Refuses new jobs, cancels all others and waits (at most `timeoutMs`) for running ones to stop: they die with the process. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    for (const job of [...this.waiting]) this.cancelJob(job);
    const running = [...this.running];
    for (const job of running) job.controller.abort();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(running.map((job) => job.settled)), timeout]);
    clearTimeout(timer);
  }

  private emit(job: Job, event: JobEvent): void {
    job.events.emit("event", event);
  }

  private canStart(memoryBytes: number): boolean {
    const used = [...this.running].reduce((sum, job) => sum + job.memoryBytes, 0);
    return this.running.size < this.limits.maxRunning && used + memoryBytes <= this.limits.memoryBudgetBytes;
  }

  private pump(): void {
    let started = false;
    while (this.waiting.length > 0 && this.canStart(this.waiting[0].memoryBytes)) {
      this.start(this.waiting.shift()!);
      started = true;
    }
    if (started) this.announcePositions();
  }

  private announcePositions(): void {
    for (const job of this.waiting) this.emit(job, { type: "status", status: this.status(job) });
  }

  private start(job: Job): void {
    job.state = "running";
    job.startedAt = new Date();
    this.running.add(job);
    this.emit(job, { type: "status", status: this.status(job) });
    runJob(job.options!, job.controller.signal, {
      progress: (progress) => {
        job.progress = progress;
        this.emit(job, { type: "progress", progress });
      },
      notice: (notice) => {
        job.notices.push(notice);
        this.emit(job, { type: "notice", notice });
      },
      download: (download) => this.emit(job, { type: "download", download }),
      preview: (p) => {
        job.preview = { png: p.png, seq: (job.preview?.seq ?? 0) + 1 };
        this.emit(job, { type: "preview", status: this.status(job) });
      },
    }).then(
      (result) => {
        job.result = result;
        this.ended(job, "done", null);
      },
      (e: unknown) => {
        const { state, error } = jobFailure(job.id, e);
        this.ended(job, state, error);
      },
    );
  }

  private ended(job: Job, state: JobState, error: JobError | null): void {
    this.running.delete(job);
    this.finish(job, state, error);
    this.pump();
  }

  private finish(job: Job, state: JobState, error: JobError | null): void {
    job.state = state;
    job.error = error;
    job.finishedAt = new Date();
    // The preview is only useful while running; the result replaces it. The uploads are not needed any more.
    job.preview = null;
    job.options = null;
    this.emit(job, { type: "end", status: this.status(job) });
    job.events.removeAllListeners();
    job.settle();
    this.forgetOldJobs();
  }

  private forgetOldJobs(): void {
    const finished = [...this.jobs.values()].filter((job) => TERMINAL_STATES.has(job.state));
    for (const job of finished.slice(0, Math.max(0, finished.length - this.limits.maxHistory))) {
      this.jobs.delete(job.id);
    }
  }

  private status(job: Job): JobStatus {
    const position =
      job.state === "running" ? 0 : job.state === "queued" ? this.waiting.indexOf(job) + 1 : null;
    const seconds = job.startedAt && job.finishedAt ? (job.finishedAt.getTime() - job.startedAt.getTime()) / 1000 : 0;
    return {
      id: job.id,
      state: job.state,
      position,
      cancelRequested: job.controller.signal.aborted,
      createdAt: job.createdAt.toISOString(),
      startedAt: job.startedAt?.toISOString() ?? null,
      finishedAt: job.finishedAt?.toISOString() ?? null,
      memoryBytes: job.memoryBytes,
      request: job.summary,
      progress: job.progress,
      ...jobUrls(job.id, job.preview?.seq ?? null, job.result !== null),
      result: job.result && {
        width: job.result.width,
        height: job.result.height,
        finalLoss: job.result.finalLoss,
        evaluations: job.result.evaluations,
        seconds,
      },
      error: job.error,
      notices: [...job.notices],
    };
  }
}
