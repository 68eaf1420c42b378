import { randomBytes } from "node:crypto";
import { PasticheError, type OptionName } from "../errors.js";
import { positiveNumber, wholeNumber } from "../options/Check.js";
import type { ModelName } from "../backbone/Backbone.js";
import { isLoopback } from "../server/AccessControl.js";
import { buildServer } from "../server/Server.js";

/** `pastiche serve` options, as the command line gives them (already parsed to numbers). */
export interface ServeOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: only this computer can connect. */
  host?: string;
  /** Jobs running at once (default 1). */
  maxJobs?: number;
  /** Jobs waiting at most (default 8). */
  maxQueue?: number;
  /** Memory budget for running jobs in MiB (default 75% of RAM). */
  memoryBudgetMb?: number;
  /** Per uploaded file, in MiB (default 20). */
  maxUploadMb?: number;
  weights?: string;
  model?: ModelName;
  threads?: number;
  /** Required of every client; generated when the server is bound to a non-loopback address. */
  token?: string;
  /** Names, besides loopback names and IP addresses, that clients may reach the server by. */
  allowedHost?: string[];
  /** Log every request (Fastify's JSON log) to stdout. */
  verbose?: boolean;
}

/**
 * Runs the web app until SIGINT or SIGTERM, then cancels the jobs and closes. A second signal
 * while shutting down exits at once.
 */
export async function serve(opts: ServeOptions = {}): Promise<void> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 8080;
  wholeNumber({ key: "port", label: "port" }, port, 0, 65535);
  // Checked under the flags' own names; the server's config names them differently.
  if (opts.maxJobs !== undefined) wholeNumber({ key: "maxJobs", label: "max jobs" }, opts.maxJobs, 1);
  if (opts.maxQueue !== undefined) wholeNumber({ key: "maxQueue", label: "max queue" }, opts.maxQueue, 0);
  // Reachable from other computers: nobody gets in without the token, as with notebook servers.
  const token = opts.token ?? (isLoopback(host) ? undefined : randomBytes(24).toString("base64url"));
  const app = buildServer({
    host,
    token,
    allowedHosts: opts.allowedHost,
    maxRunning: opts.maxJobs,
    maxQueued: opts.maxQueue,
    memoryBudgetBytes: mib({ key: "memoryBudgetMb", label: "memory budget (MiB)" }, opts.memoryBudgetMb),
    maxUploadBytes: mib({ key: "maxUploadMb", label: "maximum upload size (MiB)" }, opts.maxUploadMb),
    weights: opts.weights,
    model: opts.model,
    threads: opts.threads,
    logger: opts.verbose ?? false,
  });

  try {
    await app.listen({ port, host });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === "EADDRINUSE") {
      throw new PasticheError("BAD_OPTION", `Port ${port} on ${host} is already in use: choose another with --port`, { cause: e });
    }
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") {
      throw new PasticheError("BAD_OPTION", `Cannot listen on "${host}": it is not an address of this computer`, { cause: e });
    }
    throw e;
  }

  const address = app.server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  const query = token === undefined ? "" : `?token=${encodeURIComponent(token)}`;
  console.log(`Pastiche is running at http://${shownHost}:${boundPort}/${query}  (Ctrl+C to stop)`);
  if (!isLoopback(host)) {
    console.log(
      `Listening on ${host}: other computers can reach it, with the token in the address above. ` +
        `Names other than IP addresses must be allowed with --allowed-host NAME.`,
    );
  }

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const stop = (received: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(received);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  console.log(`\n${signal}: cancelling jobs and shutting down… (press Ctrl+C again to quit at once)`);
  const quit = (again: NodeJS.Signals) => process.exit(again === "SIGINT" ? 130 : 143);
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
  try {
    await app.close();
  } finally {
    process.off("SIGINT", quit);
    process.off("SIGTERM", quit);
  }
}

function mib(option: OptionName, value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.floor(positiveNumber(option, value) * 2 ** 20);
}
