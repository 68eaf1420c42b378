import type { ServerResponse } from "node:http";
import type { Progress } from "../pipeline/types.js";
import type { DownloadProgress } from "../pipeline/types.js";
import type { JobQueue, JobStatus } from "./JobQueue.js";

/** Comment lines keep proxies and idle timers from closing a stream while a job waits in the queue. */
const HEARTBEAT_MS = 15_000;

/**
 * Streams one job as server-sent events:
 *   status   JobStatus, on connecting and whenever the state or queue position changes
 *   progress Progress, after every evaluation
 *   preview  { url, progress } when a new preview image is ready at `url` (the URL changes each time)
 *   notice   a message for the user (also kept in JobStatus.notices)
 *   download { received, total } bytes while the weights are fetched before the first run
 *   done     JobStatus, with resultUrl
 *   failed   JobStatus, with error (code CANCELLED when cancelled)
 * The stream ends after done or failed; "failed" rather than "error" because EventSource
 * reserves "error" for its own connection errors.
 */
export class JobEvents {
  private readonly streams = new Set<ServerResponse>();

  constructor(private readonly queue: JobQueue) {}

  /** Takes over `res`; the caller has checked that the job exists and is the owner's. */
  attach(id: string, owner: string, res: ServerResponse, headers: Record<string, string>): void {
    const status = this.queue.get(id, owner);
    const events = this.queue.events(id, owner);
    if (!status || !events) throw new Error(`attach called for unknown job ${id}`);

    res.writeHead(200, {
      ...headers,
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
    });
    // The browser reconnects after this long if the connection drops mid-run.
    res.write("retry: 2000\n\n");
    send(res, "status", status);
    if (isFinished(status)) {
      send(res, status.state === "done" ? "done" : "failed", status);
      res.end();
      return;
    }
    if (status.previewUrl) send(res, "preview", previewEvent(status));

    const onStatus = (s: JobStatus) => send(res, "status", s);
    const onProgress = (p: Progress) => send(res, "progress", p);
    const onPreview = (s: JobStatus) => send(res, "preview", previewEvent(s));
    const onNotice = (notice: string) => send(res, "notice", notice);
    const onDownload = (d: DownloadProgress) => send(res, "download", d);
    const onEnd = (s: JobStatus) => {
      send(res, "status", s);
      send(res, s.state === "done" ? "done" : "failed", s);
      res.end();
    };
    const heartbeat = setInterval(() => res.write(": ping\n\n"), HEARTBEAT_MS);
    const listeners: [string, Parameters<typeof events.on>[1]][] = [
      ["status", onStatus],
      ["progress", onProgress],
      ["preview", onPreview],
      ["notice", onNotice],
      ["download", onDownload],
      ["end", onEnd],
    ];
    for (const [event, listener] of listeners) events.on(event, listener);
    this.streams.add(res);
    res.on("close", () => {
      clearInterval(heartbeat);
      for (const [event, listener] of listeners) events.off(event, listener);
      this.streams.delete(res);
    });
  }

  /** Ends every open stream, so that closing the server does not wait for browsers to hang up. */
  closeAll(): void {
    for (const res of this.streams) res.end();
  }
}

function isFinished(s: JobStatus): boolean {
  return s.state === "done" || s.state === "failed" || s.state === "cancelled";
}

function previewEvent(s: JobStatus): { url: string | null; progress: Progress | null } {
  return { url: s.previewUrl, progress: s.progress };
}

function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
