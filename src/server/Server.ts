import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { MIN_SIZE, OPTIONS } from "../pipeline/OptionSchema.js";
import { PRESET_DESCRIPTIONS, PRESET_NAMES, PRESETS } from "../pipeline/Presets.js";
import { checkAccess } from "./AccessControl.js";
import { ApiError, toApiError } from "./ApiError.js";
import { identifyClient } from "./ClientIdentity.js";
import { JobEvents } from "./JobEvents.js";
import { MAX_STRENGTH, MIN_STRENGTH, readJobForm } from "./JobForm.js";
import type { JobQueue } from "./JobQueue.js";
import { LocalJobQueue } from "./LocalJobQueue.js";
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

/** Node checks for requests past their timeout this often (its default, 30 s, would let them overrun). */
const TIMEOUT_CHECK_MS = 1_000;
/** Real clients send their headers at once; a client trickling them is cut off sooner than an upload. */
const HEADERS_TIMEOUT_MS = 20_000;

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

declare module "fastify" {
  interface FastifyRequest {
    /** The credential of the client that sent the request (see ClientIdentity). */
    client: string;
  }
}

/**
 * The web app: the page, and a JSON + server-sent-events API over a job queue, by default the
 * in-process one. `listen` is the caller's; closing the app closes the queue (the in-process one
 * cancels every job).
 */
export function buildServer(
  overrides: Partial<ServerConfig> = {},
  makeQueue: (config: ServerConfig) => JobQueue = (config) => new LocalJobQueue(config),
): FastifyInstance {
  const config = resolveServerConfig(overrides);
  const staticFiles = loadStaticFiles();
  const queue = makeQueue(config);
  const events = new JobEvents(queue);
  const limits = { maxUploadBytes: config.maxUploadBytes, maxStyles: config.maxStyles };
  const sendError = (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = toApiError(error, limits);
    if (apiError.status >= 500) request.log.error(error);
    if (apiError.status === 503) reply.header("Retry-After", "30");
    return reply.status(apiError.status).headers(SECURITY_HEADERS).send(apiError.toJSON());
  };
  const app = Fastify({
    logger: config.logger,
    // Slow or stalled clients must not hold connections (and file handles) for ever. Node enforces
    // the request timeout only when given at creation, with a headers timeout no longer; Fastify
    // then sets its own value on the server, so both carry it.
    requestTimeout: config.requestTimeoutMs,
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, config.requestTimeoutMs),
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    connectionTimeout: config.idleTimeoutMs,
    // The router's own errors (an over-long or malformed path) get the API's error body too.
    frameworkErrors: sendError,
  });
  app.server.maxConnections = config.maxConnections;

  app.register(multipart);

  app.decorateRequest("client", "");
  app.addHook("onRequest", async (request, reply) => {
    if (!checkAccess(request, reply, config)) return reply;
    request.client = identifyClient(request, reply);
  });
  app.addHook("onSend", async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  app.setErrorHandler(sendError);
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
    // Before the body is read: a full server does not buffer and sniff uploads it will refuse.
    await queue.assertRoom();
    const form = await readJobForm(request, config);
    const status = await queue.submit(toSubmission(form, config, request.client));
    return reply
      .status(202)
      .header("Location", `/api/jobs/${status.id}`)
      .send({ id: status.id, position: status.position, status });
  });

  // Every job route answers only the client that submitted the job; to others it does not exist.
  app.get("/api/jobs", async (request) => ({ jobs: await queue.list(request.client) }));

  app.get("/api/jobs/:id", async (request: IdRequest) => (await queue.get(request.params.id, request.client)) ?? notFound(request));

  app.delete("/api/jobs/:id", async (request: IdRequest, reply) => {
    const status = (await queue.cancel(request.params.id, request.client)) ?? notFound(request);
    // A running job stops within one evaluation; the events stream tells when.
    return reply.status(status.state === "running" ? 202 : 200).send(status);
  });

  app.get("/api/jobs/:id/events", async (request: IdRequest, reply: FastifyReply) => {
    if (!(await queue.get(request.params.id, request.client))) notFound(request);
    reply.hijack();
    await events.attach(request.params.id, request.client, reply.raw, SECURITY_HEADERS).catch((e: unknown) => {
      // Hijacked: Fastify no longer answers for us. The job vanished or the queue went away in between.
      request.log.error(e);
      if (!reply.raw.headersSent) reply.raw.writeHead(503, SECURITY_HEADERS);
      reply.raw.end();
    });
  });

  app.get("/api/jobs/:id/preview.png", async (request: IdRequest, reply) => {
    const status = (await queue.get(request.params.id, request.client)) ?? notFound(request);
    const png = await queue.previewPng(status.id, request.client);
    if (!png) throw new ApiError(404, "NOT_READY", `Job ${status.id} has no preview (it is ${status.state})`);
    return reply.type("image/png").header("Cache-Control", "no-store").send(png);
  });

  app.get("/api/jobs/:id/result.png", async (request: IdRequest, reply) => {
    const status = (await queue.get(request.params.id, request.client)) ?? notFound(request);
    const png = await queue.resultPng(status.id, request.client);
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
