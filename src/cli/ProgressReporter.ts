import type { Checkpoint } from "../pipeline/Stylize.js";
import type { Progress, StylizeResult } from "../pipeline/types.js";
import { ProgressDisplay } from "./ProgressDisplay.js";

export const PROGRESS_FORMATS = ["bar", "json"] as const;
export type ProgressFormat = (typeof PROGRESS_FORMATS)[number];

/** Where a run's events go on stderr: a human display or JSON lines for programs. */
export interface ProgressReporter {
  download(received: number, total: number): void;
  notice(text: string): void;
  update(p: Progress): void;
  /** `file`: where --save-every has just written it. */
  checkpoint(c: Checkpoint, file?: string): void;
  stop(): void;
  done(output: string, result: StylizeResult): void;
}

export function progressReporter(format: ProgressFormat, quiet: boolean): ProgressReporter {
  return format === "json" ? new JsonProgress() : new ProgressDisplay(quiet);
}

/** One JSON object per line: `event` plus the library event's fields (non-finite numbers become null). */
function writeEvent(event: string, fields: object): void {
  process.stderr.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/** `--progress json`: every library event as a line, then `done` or (from the CLI's error path) `error`. */
export class JsonProgress implements ProgressReporter {
  download(received: number, total: number): void {
    writeEvent("download", { received, total });
  }

  notice(message: string): void {
    writeEvent("notice", { message });
  }

  update(p: Progress): void {
    writeEvent("progress", p);
  }

  checkpoint(c: Checkpoint, file?: string): void {
    // The pixels stay out of the log; their size says which scale they are at.
    writeEvent("checkpoint", { iteration: c.iteration, width: c.image.width, height: c.image.height, progress: c.progress, ...(file ? { file } : {}) });
  }

  stop(): void {}

  done(output: string, result: StylizeResult): void {
    writeEvent("done", {
      output,
      width: result.width,
      height: result.height,
      format: result.format,
      finalLoss: result.finalLoss,
      evaluations: result.evaluations.length,
      seconds: result.evaluations.reduce((s, e) => s + e.seconds, 0),
    });
  }
}

/** The CLI's last word on a failure: `pastiche: message`, or an `error` event for JSON readers. */
export function writeFailure(format: ProgressFormat | undefined, code: string, message: string): void {
  if (format === "json") writeEvent("error", { code, message });
  else process.stderr.write(`pastiche: ${message}\n`);
}
