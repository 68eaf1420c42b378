import type { ServerResponse } from "node:http";
import type { Progress } from "../pipeline/types.js";
import type { JobEvent, JobQueue, JobStatus } from "./JobQueue.js";

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
  async attach(id: string, owner: string, res: ServerResponse, headers: Record<string, string>): Promise<void> {
    // Watching before reading the status: an event in between is sent twice rather than missed.
    const held: JobEvent[] = [];
    let deliver: (event: JobEvent) => void = (event) => held.push(event);
    const unwatch = await this.queue.watch(id, owner, (event) => deliver(event));
    const status = await this.queue.get(id, owner);
    if (!status || !unwatch) {
      unwatch?.();
      throw new Error(`attach called for unknown job ${id}`);
    }

    res.writeHead(200, {
      ...headers,
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
    });
    // The browser reconnects after this long if the connection drops mid-run.
    res.write("retry: 2000\n\n");
    const end = (s: JobStatus) => {
      send(res, s.state === "done" ? "done" : "failed", s);
      res.end();
    };
    send(res, "status", status);
    if (isFinished(status)) {
      unwatch();
      end(status);
      return;
    }
    if (status.previewUrl) send(res, "preview", previewEvent(status));

    deliver = (event) => {
      if (res.writableEnded) return;
      switch (event.type) {
        case "status":
          return send(res, "status", event.status);
        case "progress":
          return send(res, "progress", event.progress);
        case "preview":
          return send(res, "preview", previewEvent(event.status));
        case "notice":
          return send(res, "notice", event.notice);
        case "download":
          return send(res, "download", event.download);
        case "end":
          send(res, "status", event.status);
          return end(event.status);
      }
    };
    for (const event of held) deliver(event);
    const heartbeat = setInterval(() => res.write(": ping\n\n"), HEARTBEAT_MS);
    this.streams.add(res);
    res.on("close", () => {
      clearInterval(heartbeat);
      unwatch();
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
