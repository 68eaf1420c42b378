import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import sharp from "sharp";
import { buildServer } from "../../src/server/Server.js";
import type { ServerConfig } from "../../src/server/ServerConfig.js";

/** The shared test weights; real runs are skipped (with a message) when they are absent. */
export const WEIGHTS = fileURLToPath(new URL("../../../shared/weights/vgg19_notop_8bit.h5", import.meta.url));
export const HAVE_WEIGHTS = existsSync(WEIGHTS);
export const NO_WEIGHTS_REASON = `the shared test weights are missing (${WEIGHTS}); real runs skipped`;

export interface Running {
  app: FastifyInstance;
  base: string;
  /** One client of the server, keeping its cookies. */
  client: Client;
}

/** The app on a free loopback port, as a user would reach it. */
export async function startServer(overrides: Partial<ServerConfig> = {}): Promise<Running> {
  const app = buildServer({ model: "vgg19", weights: WEIGHTS, previewEvery: 2, ...overrides });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  if (typeof address !== "object" || !address) throw new Error("the server has no TCP address");
  const base = `http://127.0.0.1:${address.port}`;
  return { app, base, client: new Client(base) };
}

/** An HTTP client that keeps the cookies the server sets, as a browser or `curl -c jar -b jar` does. */
export class Client {
  readonly cookies = new Map<string, string>();

  constructor(readonly base: string) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const response = await fetch(`${this.base}${path}`, { ...init, headers, redirect: init.redirect ?? "manual" });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";")[0];
      const eq = pair.indexOf("=");
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return response;
  }
}

/** A smooth colour gradient: compresses well, so its byte size is small for its pixel count. */
export function gradientPng(width: number, height: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((255 * x) / Math.max(1, width - 1));
      data[i + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      data[i + 2] = 128;
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Stripes and checks with some noise, so a style has texture to copy; random noise does not compress. */
export function texturePng(width: number, height: number, seed = 1): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const stripe = (x + y) % 8 < 4 ? 200 : 40;
      data[i] = stripe;
      data[i + 1] = ((x >> 2) + (y >> 2)) % 2 ? 180 : 60;
      data[i + 2] = Math.floor(random() * 256);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

export interface Upload {
  name: string;
  bytes: Buffer;
  /** What the client claims; the server must not believe it. */
  type?: string;
  filename?: string;
}

export function jobForm(files: Upload[], fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  for (const f of files) {
    form.append(f.name, new Blob([new Uint8Array(f.bytes)], { type: f.type ?? "image/png" }), f.filename ?? `${f.name}.png`);
  }
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

export async function postJob(client: Client, form: FormData): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await client.fetch("/api/jobs", { method: "POST", body: form });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

export interface SseEvent {
  event: string;
  data: any;
}

/**
 * Reads a job's event stream until `stop` accepts an event or the stream ends;
 * fails after `timeoutMs` naming the events seen so far.
 */
export async function readEvents(
  client: Client,
  path: string,
  stop: (e: SseEvent) => boolean,
  timeoutMs: number,
  onEvent?: (e: SseEvent) => void,
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const response = await client.fetch(path, { signal: controller.signal });
    if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data === "") continue;
        const e = { event, data: JSON.parse(data) };
        events.push(e);
        onEvent?.(e);
        if (stop(e)) return events;
      }
    }
    return events;
  } catch (e) {
    if (controller.signal.aborted) {
      throw new Error(`no matching event within ${timeoutMs} ms; saw: ${events.map((x) => x.event).join(", ")}`);
    }
    throw e;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

export const isEnd = (e: SseEvent) => e.event === "done" || e.event === "failed";

/** A response body as JSON, loosely typed for assertions. */
export async function json(response: Response | Promise<Response>): Promise<any> {
  return (await response).json();
}
