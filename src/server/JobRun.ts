import { isPasticheError } from "../errors.js";
import { stylize } from "../pipeline/Stylize.js";
import type { DownloadProgress, Preview, Progress, StylizeResult } from "../pipeline/types.js";
import { nameByField } from "./ApiError.js";
import type { JobError, JobOptions } from "./JobQueue.js";

/** Where a running job's events go: the in-process queue's memory, or Redis for a worker. */
export interface RunListeners {
  progress(progress: Progress): void;
  preview(preview: Preview): void;
  notice(notice: string): void;
  download(download: DownloadProgress): void;
}

/** The result as a queue keeps it. */
export interface JobOutput {
  png: Buffer;
  width: number;
  height: number;
  finalLoss: number;
  evaluations: number;
}

/**
 * Runs one job of a queue (in-process or on a worker); rejects as `stylize` does. A throw while
 * starting becomes a rejection, so that the caller has one way to hear of failures.
 */
export async function runJob(options: JobOptions, signal: AbortSignal, on: RunListeners): Promise<JobOutput> {
  const run = stylize({ ...options, signal });
  run.on("progress", on.progress);
  run.on("preview", on.preview);
  run.on("notice", on.notice);
  let shownPercent = -1;
  run.on("download", (d) => {
    // Chunks arrive by the thousand; whole percents are all a progress bar can show.
    const percent = d.total > 0 ? Math.floor((100 * d.received) / d.total) : 0;
    if (percent === shownPercent) return;
    shownPercent = percent;
    on.download(d);
  });
  const r: StylizeResult = await run.result;
  return { png: r.image, width: r.width, height: r.height, finalLoss: r.finalLoss, evaluations: r.evaluations.length };
}

/** How a job that did not finish ended, as its status says it; anything but a PasticheError is a bug, logged here. */
export function jobFailure(id: string, e: unknown): { state: "failed" | "cancelled"; error: JobError } {
  if (isPasticheError(e)) {
    return { state: e.code === "CANCELLED" ? "cancelled" : "failed", error: { code: e.code, message: e.describe(nameByField) } };
  }
  console.error(`pastiche: job ${id} failed unexpectedly:`, e);
  return { state: "failed", error: { code: "INTERNAL", message: "The job failed unexpectedly: see the log of the process that ran it" } };
}
