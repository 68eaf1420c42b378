import type { DownloadProgress, Progress, StylizeOptions } from "../pipeline/types.js";

export type JobState = "queued" | "running" | "done" | "failed" | "cancelled";

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(["done", "failed", "cancelled"]);

/** What the client asked for, echoed in the status so a page can label the job. */
export interface JobSummary {
  preset: string;
  size: number;
  strength: number;
  styles: number;
}

/** The job options a queue stores: everything but the signal, which whoever runs the job owns. */
export type JobOptions = Omit<StylizeOptions, "signal">;

export interface JobSubmission {
  /** The client credential of whoever submitted it: only they see the job. */
  owner: string;
  options: JobOptions;
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
  result: JobResultSummary | null;
  error: JobError | null;
  /** Things the user should know, e.g. that only the first frame of an animation is used. */
  notices: string[];
}

export interface JobResultSummary {
  width: number;
  height: number;
  finalLoss: number;
  evaluations: number;
  seconds: number;
}

export interface JobError {
  code: string;
  message: string;
}

/**
 * What a watcher of a job hears: "status" when the state or queue position changes, "progress"
 * after every evaluation, "preview" (with the new previewUrl), "notice", "download" while weights
 * are fetched, and "end" once, when the job has finished whichever way.
 */
export type JobEvent =
  | { type: "status"; status: JobStatus }
  | { type: "progress"; progress: Progress }
  | { type: "preview"; status: JobStatus }
  | { type: "notice"; notice: string }
  | { type: "download"; download: DownloadProgress }
  | { type: "end"; status: JobStatus };

/**
 * What the web app needs of a job queue; the in-process LocalJobQueue and the Redis-backed
 * RedisJobQueue both provide it. Every accessor takes the owner: to anyone else a job does not exist.
 */
export interface JobQueue {
  /**
   * Throws (QUEUE_FULL, or the queue's own error when it cannot be reached) when a job submitted
   * now would be refused: checked before a request's body is read, so that uploads that would be
   * refused are not buffered.
   */
  assertRoom(): Promise<void>;
  submit(submission: JobSubmission): Promise<JobStatus>;
  get(id: string, owner: string): Promise<JobStatus | undefined>;
  list(owner: string): Promise<JobStatus[]>;
  previewPng(id: string, owner: string): Promise<Buffer | undefined>;
  resultPng(id: string, owner: string): Promise<Buffer | undefined>;
  /**
   * A waiting job ends at once; a running one is asked to stop and ends within one evaluation;
   * a finished one is forgotten, freeing its images. Returns the status after the request.
   */
  cancel(id: string, owner: string): Promise<JobStatus | undefined>;
  /** Calls `listener` with the job's events until the returned function is called; undefined for unknown jobs. */
  watch(id: string, owner: string, listener: (event: JobEvent) => void): Promise<(() => void) | undefined>;
  /** Takes no new jobs; waits at most `timeoutMs` for what the queue must finish before the process may exit. */
  close(timeoutMs: number): Promise<void>;
}

/** The URLs of a job's images, as the status gives them. */
export function jobUrls(id: string, previewSeq: number | null, hasResult: boolean): Pick<JobStatus, "previewUrl" | "resultUrl"> {
  const base = `/api/jobs/${id}`;
  return {
    previewUrl: previewSeq === null ? null : `${base}/preview.png?seq=${previewSeq}`,
    resultUrl: hasResult ? `${base}/result.png` : null,
  };
}
