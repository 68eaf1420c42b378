import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REDIS_SERVER = "/usr/bin/redis-server";

/** A free TCP port on loopback, as the OS hands one out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * A real redis-server of the test's own, on a free port with its data in a temporary directory
 * (append-only file on, so that a restart keeps the data as a production setup would).
 */
export class RedisServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    if (!existsSync(REDIS_SERVER)) {
      throw new Error(`${REDIS_SERVER} is missing: install Debian's redis-server (apt-get install redis-server; .ci/run does)`);
    }
    const server = new RedisServer(await freePort(), await mkdtemp(join(tmpdir(), "pastiche-redis-")));
    await server.resume();
    return server;
  }

  /** Starts redis-server again on the same port and directory, after `stop`. */
  async resume(): Promise<void> {
    const child = spawn(
      REDIS_SERVER,
      ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--appendonly", "yes", "--save", "", "--daemonize", "no"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.process = child;
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${output}`)), 10_000);
      child.stdout!.on("data", (d: Buffer) => {
        output += d.toString();
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (code ${code}):\n${output}`));
      });
    });
  }

  /** Stops it (SIGTERM: it writes its data and exits). */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
