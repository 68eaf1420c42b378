import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { isPasticheError, PasticheError } from "../errors.js";
import { stylize } from "../pipeline/Stylize.js";
import type { DownloadProgress, Preview, Progress, StylizeOptions } from "../pipeline/types.js";
import { formatBytes } from "../util/Bytes.js";
import { nameByField } from "./ApiError.js";

export type JobState = "queued" | "running" | "done" | "failed" | "cancelled";

/** What the client asked for, echoed in the status so a page can label the job. */
export interface JobSummary {
  preset: string;
  size: number;
  strength: number;
  styles: number;
}

export interface JobSubmission {
  /** The client credential of whoever submitted it: only they see the job. */
  owner: string;
  /** Everything but the signal, which the queue owns. */
  options: Omit<StylizeOptions, "signal">;
  memoryBytes: number;
  summary: JobSummary;
}

/** The JSON a client sees for a job. */
export interface JobStatus {
  id: string;
  state: JobState;
  /** 0 while running, 1 for the next job to start, ...; null once finished. */
  position: number | null;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  memoryBytes: number;
  request: JobSummary;
  progress: Progress | null;
  previewUrl: string | null;
  resultUrl: string | null;
  result: { width: number; height: number; finalLoss: number; evaluations: number; seconds: number } | null;
  error: { code: string; message: string } | null;
  /** Things the user should know, e.g. that only the first frame of an animation is used. */
  notices: string[];
}

interface Job {
  id: string;
  owner: string;
  state: JobState;
  /** Until the job ends: its input images are dropped then, since they can be large. */
  options: Omit<StylizeOptions, "signal"> | null;
  memoryBytes: number;
  summary: JobSummary;
  controller: AbortController;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  progress: Progress | null;
  preview: { png: Buffer; seq: number } | null;
  result: { png: Buffer; width: number; height: number; finalLoss: number; evaluations: number } | null;
  error: { code: string; message: string } | null;
  notices: string[];
  /**
   * "status" (JobStatus) when the state or queue position changes, "progress" (Progress),
   * "preview" (JobStatus, with the new previewUrl), "notice" (string), "download"
   * (DownloadProgress), "end" (JobStatus) once finished.
   */
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

const TERMINAL: ReadonlySet<JobState> = new Set(["done", "failed", "cancelled"]);

/**
 * Runs jobs first come, first served: at most `maxRunning` at once, and only while their
 * estimated memory fits the budget together. A job never overtakes an earlier one, so a big
 * job cannot starve behind a stream of small ones.
 */
export class JobQueue {
  private readonly jobs = new Map<string, Job>();
  private readonly waiting: Job[] = [];
  private readonly running = new Set<Job>();
  private closed = false;

  constructor(private readonly limits: JobQueueLimits) {}

  submit(submission: JobSubmission): JobStatus {
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

  /**
   * True when any job submitted now would be refused for want of room: checked before a request's
   * body is read, so that a full server does not buffer uploads it will refuse.
   */
  isFull(): boolean {
    const mustWait = this.waiting.length > 0 || this.running.size >= this.limits.maxRunning;
    return this.closed || (mustWait && this.waiting.length >= this.limits.maxQueued);
  }

  fullError(): PasticheError {
    if (this.closed) return new PasticheError("QUEUE_FULL", "The server is shutting down and takes no new jobs");
    return new PasticheError(
      "QUEUE_FULL",
      `The queue is full (${this.running.size} running, ${this.waiting.length} waiting, at most ` +
        `${this.limits.maxQueued} may wait): try again when a job has finished`,
    );
  }

  /** Every accessor takes the owner: to anyone else a job does not exist. */
  get(id: string, owner: string): JobStatus | undefined {
    const job = this.find(id, owner);
    return job && this.status(job);
  }

  list(owner: string): JobStatus[] {
    return [...this.jobs.values()].filter((job) => job.owner === owner).map((job) => this.status(job));
  }

  previewPng(id: string, owner: string): Buffer | undefined {
    return this.find(id, owner)?.preview?.png;
  }

  resultPng(id: string, owner: string): Buffer | undefined {
    return this.find(id, owner)?.result?.png;
  }

  /** The job's event source, for streaming; undefined for unknown ids. */
  events(id: string, owner: string): EventEmitter | undefined {
    return this.find(id, owner)?.events;
  }

  private find(id: string, owner: string): Job | undefined {
    const job = this.jobs.get(id);
    return job?.owner === owner ? job : undefined;
  }

  /**
   * A waiting job ends at once; a running one is asked to stop and ends within one evaluation;
   * a finished one is forgotten, freeing its images. Returns the status after the request.
   */
  cancel(id: string, owner: string): JobStatus | undefined {
    const job = this.find(id, owner);
    return job && this.cancelJob(job);
  }

  private cancelJob(job: Job): JobStatus {
    if (TERMINAL.has(job.state)) {
      this.jobs.delete(job.id);
      return this.status(job);
    }
    if (job.state === "queued") {
      this.waiting.splice(this.waiting.indexOf(job), 1);
      this.finish(job, "cancelled", { code: "CANCELLED", message: "Cancelled before it started" });
      this.announcePositions();
    } else {
      job.controller.abort();
      job.events.emit("status", this.status(job));
    }
    return this.status(job);
  }

  /** Refuses new jobs, cancels all others and waits (at most `timeoutMs`) for running ones to stop. */
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
    for (const job of this.waiting) job.events.emit("status", this.status(job));
  }

  private start(job: Job): void {
    job.state = "running";
    job.startedAt = new Date();
    this.running.add(job);
    job.events.emit("status", this.status(job));
    let run;
    try {
      run = stylize({ ...job.options!, signal: job.controller.signal });
    } catch (e) {
      this.ended(job, e);
      return;
    }
    run.on("progress", (p: Progress) => {
      job.progress = p;
      job.events.emit("progress", p);
    });
    run.on("notice", (notice: string) => {
      job.notices.push(notice);
      job.events.emit("notice", notice);
    });
    let shownPercent = -1;
    run.on("download", (d: DownloadProgress) => {
      // Chunks arrive by the thousand; whole percents are all a progress bar can show.
      const percent = d.total > 0 ? Math.floor((100 * d.received) / d.total) : 0;
      if (percent === shownPercent) return;
      shownPercent = percent;
      job.events.emit("download", d);
    });
    run.on("preview", (p: Preview) => {
      job.preview = { png: p.png, seq: (job.preview?.seq ?? 0) + 1 };
      job.events.emit("preview", this.status(job));
    });
    run.result.then(
      (r) => {
        job.result = {
          png: r.image,
          width: r.width,
          height: r.height,
          finalLoss: r.finalLoss,
          evaluations: r.evaluations.length,
        };
        this.running.delete(job);
        this.finish(job, "done", null);
        this.pump();
      },
      (e: unknown) => this.ended(job, e),
    );
  }

  private ended(job: Job, e: unknown): void {
    this.running.delete(job);
    if (isPasticheError(e) && e.code === "CANCELLED") {
      this.finish(job, "cancelled", { code: e.code, message: e.describe(nameByField) });
    } else if (isPasticheError(e)) {
      this.finish(job, "failed", { code: e.code, message: e.describe(nameByField) });
    } else {
      console.error(`pastiche: job ${job.id} failed unexpectedly:`, e);
      this.finish(job, "failed", { code: "INTERNAL", message: "The job failed unexpectedly: see the server's log" });
    }
    this.pump();
  }

  private finish(job: Job, state: JobState, error: JobStatus["error"]): void {
    job.state = state;
    job.error = error;
    job.finishedAt = new Date();
    // The preview is only useful while running; the result replaces it. The uploads are not needed any more.
    job.preview = null;
    job.options = null;
    job.events.emit("end", this.status(job));
    job.events.removeAllListeners();
    job.settle();
    this.forgetOldJobs();
  }

  private forgetOldJobs(): void {
    const finished = [...this.jobs.values()].filter((job) => TERMINAL.has(job.state));
    for (const job of finished.slice(0, Math.max(0, finished.length - this.limits.maxHistory))) {
      this.jobs.delete(job.id);
    }
  }

  private status(job: Job): JobStatus {
    const base = `/api/jobs/${job.id}`;
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
      previewUrl: job.preview ? `${base}/preview.png?seq=${job.preview.seq}` : null,
      resultUrl: job.result ? `${base}/result.png` : null,
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
