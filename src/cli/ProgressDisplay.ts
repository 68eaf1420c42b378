import cliProgress from "cli-progress";
import type { Progress, StylizeResult } from "../pipeline/types.js";
import type { ProgressReporter } from "./ProgressReporter.js";

const duration = (s: number) => (!Number.isFinite(s) ? "?" : s < 60 ? `${Math.round(s)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`);
const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(3) : String(v));

/**
 * Progress on stderr: a live bar on a terminal; on a pipe or log file, one line per outer
 * iteration so logs stay readable.
 */
export class ProgressDisplay implements ProgressReporter {
  private bar: cliProgress.SingleBar | undefined;
  private downloadBar: cliProgress.SingleBar | undefined;
  private lastIteration = -1;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly quiet: boolean) {}

  download(received: number, total: number): void {
    if (this.quiet) return;
    if (!this.downloadBar) {
      this.downloadBar = new cliProgress.SingleBar(
        { stream: process.stderr, format: "downloading weights [{bar}] {percentage}% {value}/{total} MB, ETA {eta_formatted}", noTTYOutput: false },
        cliProgress.Presets.shades_classic,
      );
      this.downloadBar.start(Math.round(total / 1e6), 0);
    }
    this.downloadBar.update(Math.round(received / 1e6));
    if (received >= total) {
      this.downloadBar.stop();
    }
  }

  notice(text: string): void {
    if (!this.quiet) this.write(`note: ${text}`);
  }

  update(p: Progress): void {
    if (this.quiet) return;
    const fields = {
      iteration: `${Math.min(p.iteration + 1, p.iterations)}/${p.iterations}`,
      scale: (p.scales > 1 ? ` scale ${p.scale + 1}/${p.scales}` : "") + (p.windows ? ` window ${p.windows.done}/${p.windows.total}` : ""),
      loss: sci(p.loss),
      spe: p.evaluation > 0 ? (p.elapsedS / p.evaluation).toFixed(2) : "-",
      eta: duration(p.etaS),
    };
    if (this.tty) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          { stream: process.stderr, format: "[{bar}] eval {value}/{total}{scale} iter {iteration} | loss {loss} | {spe} s/eval | ETA {eta}", hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(p.evaluations, 0, fields);
      }
      this.bar.update(p.evaluation, fields);
    } else if (p.iteration !== this.lastIteration) {
      this.lastIteration = p.iteration;
      process.stderr.write(`iteration ${fields.iteration}${fields.scale}: eval ${p.evaluation}/${p.evaluations}, loss ${fields.loss}, ${fields.spe} s/eval, ETA ${fields.eta}\n`);
    }
  }

  /** Nothing to add: the bar or the iteration line already shows the iteration. */
  checkpoint(): void {}

  stop(): void {
    this.bar?.stop();
    this.downloadBar?.stop();
  }

  done(output: string, result: StylizeResult): void {
    this.stop();
    if (this.quiet) return;
    const seconds = result.evaluations.reduce((s, e) => s + e.seconds, 0);
    this.write(
      `wrote ${output} (${result.width}x${result.height}): ${result.evaluations.length} evaluations in ${seconds.toFixed(1)} s ` +
        `(${(seconds / Math.max(1, result.evaluations.length)).toFixed(2)} s/eval), final loss ${sci(result.finalLoss)}`,
    );
  }

  private write(line: string): void {
    process.stderr.write(`${line}\n`);
  }
}
