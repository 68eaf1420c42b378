import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "src/cli/bin.ts");

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

export interface Started {
  child: ChildProcess;
  exit: Promise<Exit>;
}

/** A child process whose output is collected; one that hangs is killed so that it fails its test. */
export function startProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Started {
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, stdout });
    });
  });
  return { child, exit };
}

/** The `pastiche` CLI from the sources; cwd is the project so that --import finds tsx. */
export function startPastiche(args: string[], env: NodeJS.ProcessEnv): Started {
  return startProcess(process.execPath, ["--import", "tsx", BIN, ...args], { env: { ...process.env, ...env } });
}

export function assertExit(r: Exit, code: number): void {
  assert.equal(r.code, code, `exit code ${r.code} (signal ${r.signal}), stderr:\n${r.stderr}`);
}

/** The address `pastiche serve` prints once it listens; rejects if it exits first. */
export function servedUrl({ child, exit }: Started): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let seen = "";
    child.stdout!.on("data", (d: Buffer) => {
      seen += d.toString();
      // With the access token's query when there is one.
      const m = /running at (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(seen);
      if (m) resolve(m[1]);
    });
    void exit.then((r) => reject(new Error(`serve exited early (code ${r.code}): ${r.stderr}`)));
  });
}
