import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { MIN_SIZE, OPTIONS } from "../pipeline/OptionSchema.js";
import { PRESET_DESCRIPTIONS, PRESET_NAMES, PRESETS } from "../pipeline/Presets.js";
import { ApiError, toApiError } from "./ApiError.js";
import { JobEvents } from "./JobEvents.js";
import { MAX_STRENGTH, MIN_STRENGTH, readJobForm } from "./JobForm.js";
import { JobQueue } from "./JobQueue.js";
import { resolveServerConfig, type ServerConfig } from "./ServerConfig.js";
import { loadStaticFiles } from "./StaticFiles.js";
import { toSubmission } from "./Submission.js";

/** How long closing the server waits for running jobs to notice they were cancelled. */
const CLOSE_TIMEOUT_MS = 10_000;

const SECURITY_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Content-Security-Policy":
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; " +
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
};

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]"]);

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

/**
 * The web app: the page, and a JSON + server-sent-events API over a job queue.
 * `listen` is the caller's; closing the app cancels every job.
 */
export function buildServer(overrides: Partial<ServerConfig> = {}): FastifyInstance {
  const config = resolveServerConfig(overrides);
  const staticFiles = loadStaticFiles();
  const queue = new JobQueue(config);
  const events = new JobEvents(queue);
  const app = Fastify({ logger: config.logger });
  const limits = { maxUploadBytes: config.maxUploadBytes, maxStyles: config.maxStyles };

  app.register(multipart);

  app.addHook("onRequest", async (request) => checkCaller(request, config.host));
  app.addHook("onSend", async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error, limits);
    if (apiError.status >= 500) request.log.error(error);
    if (apiError.code === "QUEUE_FULL") reply.header("Retry-After", "30");
    return reply.status(apiError.status).send(apiError.toJSON());
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send(new ApiError(404, "NOT_FOUND", `No such page: ${request.method} ${request.url}`).toJSON()),
  );
  app.addHook("preClose", async () => {
    // Jobs first, so that open pages hear that their job was cancelled before the stream ends.
    await queue.close(CLOSE_TIMEOUT_MS);
    events.closeAll();
  });

  for (const [path, file] of staticFiles) {
    app.get(path, (_request, reply) => reply.type(file.type).header("Cache-Control", "no-cache").send(file.body));
  }

  app.get("/api/config", async () => ({
    maxStyles: config.maxStyles,
    maxUploadBytes: config.maxUploadBytes,
    maxPixels: config.maxPixels,
    maxSize: config.maxSize,
    maxIterations: config.maxIterations,
    maxEvalsPerIteration: config.maxEvalsPerIteration,
    strength: { min: MIN_STRENGTH, max: MAX_STRENGTH },
    minSize: MIN_SIZE,
    defaultPreset: OPTIONS.preset.default,
    // The page's preset list, in this order, and what each sets in the form.
    presets: Object.fromEntries(
      PRESET_NAMES.map((name) => {
        const p = PRESETS[name];
        const fields = { size: Math.min(p.size, config.maxSize), iterations: p.iterations, evalsPerIteration: p.evalsPerIteration };
        return [name, { description: PRESET_DESCRIPTIONS[name], ...fields }];
      }),
    ),
  }));

  app.post("/api/jobs", async (request, reply) => {
    const form = await readJobForm(request, config);
    const status = queue.submit(toSubmission(form, config));
    return reply
      .status(202)
      .header("Location", `/api/jobs/${status.id}`)
      .send({ id: status.id, position: status.position, status });
  });

  app.get("/api/jobs", async () => ({ jobs: queue.list() }));

  app.get("/api/jobs/:id", async (request: IdRequest) => queue.get(request.params.id) ?? notFound(request));

  app.delete("/api/jobs/:id", async (request: IdRequest, reply) => {
    const status = queue.cancel(request.params.id) ?? notFound(request);
    // A running job stops within one evaluation; the events stream tells when.
    return reply.status(status.state === "running" ? 202 : 200).send(status);
  });

  app.get("/api/jobs/:id/events", async (request: IdRequest, reply: FastifyReply) => {
    if (!queue.get(request.params.id)) notFound(request);
    reply.hijack();
    events.attach(request.params.id, reply.raw, SECURITY_HEADERS);
  });

  app.get("/api/jobs/:id/preview.png", async (request: IdRequest, reply) => {
    const status = queue.get(request.params.id) ?? notFound(request);
    const png = queue.previewPng(status.id);
    if (!png) throw new ApiError(404, "NOT_READY", `Job ${status.id} has no preview (it is ${status.state})`);
    return reply.type("image/png").header("Cache-Control", "no-store").send(png);
  });

  app.get("/api/jobs/:id/result.png", async (request: IdRequest, reply) => {
    const status = queue.get(request.params.id) ?? notFound(request);
    const png = queue.resultPng(status.id);
    if (!png) throw new ApiError(409, "NOT_READY", `Job ${status.id} has no result yet (it is ${status.state})`);
    return reply
      .type("image/png")
      .header("Cache-Control", "private, max-age=86400")
      .header("Content-Disposition", `inline; filename="pastiche-${status.id.slice(0, 8)}.png"`)
      .send(png);
  });

  return app;
}

function notFound(request: IdRequest): never {
  throw new ApiError(404, "NOT_FOUND", `No job with id "${request.params.id.slice(0, 64)}" on this server`);
}

/**
 * Any web page the user visits can make their browser send requests here. Requiring a Host we
 * serve under defeats DNS rebinding (a hostile name resolving to 127.0.0.1), and requiring a
 * same-origin Origin on changes stops other sites from queueing or cancelling jobs.
 */
function checkCaller(request: FastifyRequest, boundHost: string): void {
  const host = request.headers.host ?? "";
  let hostname: string;
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    throw new ApiError(400, "BAD_REQUEST", "Malformed Host header");
  }
  const exposed = WILDCARD_HOSTS.has(boundHost);
  // URL spells IPv6 hosts in brackets.
  const bound = boundHost.includes(":") && !boundHost.startsWith("[") ? `[${boundHost}]` : boundHost;
  if (!exposed && !LOOPBACK_NAMES.has(hostname) && hostname !== bound.toLowerCase()) {
    throw new ApiError(403, "FORBIDDEN", `This server does not answer for the host "${hostname.slice(0, 64)}"`);
  }
  const origin = request.headers.origin;
  if (request.method !== "GET" && request.method !== "HEAD" && origin !== undefined && origin !== `http://${host}`) {
    throw new ApiError(403, "FORBIDDEN", "Requests from other web sites are not accepted");
  }
}
