import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { estimateRunBytes, planRun } from "../src/pipeline/MemoryBudget.js";
import {
  HAVE_WEIGHTS,
  NO_WEIGHTS_REASON,
  gradientPng,
  isEnd,
  jobForm,
  json,
  postJob,
  readEvents,
  startServer,
  texturePng,
  type Running,
} from "./helpers/serverClient.js";

/** Small enough that a run takes seconds on a shared 2-core machine. */
const TINY = { preset: "gatys", size: "48", iterations: "1", evalsPerIteration: "8" };

let content: Buffer;
let style: Buffer;

before(async () => {
  content = await gradientPng(64, 48);
  style = await texturePng(48, 48);
});

const files = (styles = 1) => [
  { name: "content", bytes: content },
  ...Array.from({ length: styles }, () => ({ name: "style", bytes: style })),
];

function assertApiError(res: { status: number; body: any }, status: number, code: string, pattern?: RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error?.code, code, JSON.stringify(res.body));
  assert.equal(typeof res.body.error.message, "string");
  if (pattern) assert.match(res.body.error.message, pattern);
}

describe("requests refused before any run", () => {
  let server: Running;
  before(async () => {
    server = await startServer({ maxStyles: 2, maxUploadBytes: 64 * 1024, maxPixels: 200_000, maxSize: 256 });
  });
  after(() => server.app.close());

  it("serves the page and its files with a restrictive content security policy", async () => {
    const page = await fetch(`${server.base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    assert.match(await page.text(), /<script type="module" src="\/app.js">/);
    const js = await fetch(`${server.base}/app.js`);
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    const config = await json(fetch(`${server.base}/api/config`));
    assert.equal(config.maxStyles, 2);
    assert.equal(config.presets.gatys.size, 256, "preset sizes are capped by the server's maximum");
  });

  it("answers unknown job ids and paths with 404 JSON", async () => {
    const id = "00000000-0000-4000-8000-000000000000";
    for (const [method, path] of [
      ["GET", `/api/jobs/${id}`],
      ["GET", `/api/jobs/${id}/events`],
      ["GET", `/api/jobs/${id}/preview.png`],
      ["GET", `/api/jobs/${id}/result.png`],
      ["DELETE", `/api/jobs/${id}`],
      ["GET", "/api/jobs/..%2F..%2Fetc%2Fpasswd"],
      ["GET", "/nothing-here"],
    ]) {
      const response = await fetch(`${server.base}${path}`, { method });
      assertApiError({ status: response.status, body: await response.json() }, 404, "NOT_FOUND");
    }
  });

  it("requires a content image and a style image", async () => {
    assertApiError(await postJob(server.client, jobForm([{ name: "style", bytes: style }], TINY)), 400, "INPUT_MISSING", /content/);
    assertApiError(await postJob(server.client, jobForm([{ name: "content", bytes: content }], TINY)), 400, "INPUT_MISSING", /style/);
    assertApiError(
      await postJob(server.client, jobForm([...files(), { name: "content", bytes: content }], TINY)),
      400,
      "BAD_OPTION",
      /exactly one content/,
    );
  });

  it("refuses bad numbers, unknown presets and unknown fields", async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ size: "abc" }, /"size" must be a whole number from 16 to 256/],
      [{ size: "1e3" }, /"size"/],
      [{ size: "8" }, /"size"/],
      [{ size: "64.5" }, /"size"/],
      [{ size: "512" }, /"size"/],
      [{ strength: "100" }, /"strength" must be a number from 0.1 to 10/],
      [{ strength: "Infinity" }, /"strength"/],
      [{ iterations: "0" }, /"iterations"/],
      [{ preset: "picasso" }, /Unknown preset "picasso"/],
      [{ colour: "blue" }, /Unknown field "colour"/],
    ];
    for (const [fields, message] of cases) {
      assertApiError(await postJob(server.client, jobForm(files(), { ...TINY, ...fields })), 400, "BAD_OPTION", message);
    }
  });

  it("refuses more style images than the limit, whichever part comes first", async () => {
    assertApiError(await postJob(server.client, jobForm(files(3), TINY)), 400, "BAD_OPTION", /at most 2 style images/);
    const stylesFirst = [...files(3).slice(1), { name: "content", bytes: content }];
    assertApiError(await postJob(server.client, jobForm(stylesFirst, TINY)), 400, "BAD_OPTION", /at most 2 style images/);
  });

  it("refuses an oversized upload with 413", async () => {
    const big = await sharp(Buffer.alloc(200 * 200 * 3).map((_, i) => (i * 7919) % 251), {
      raw: { width: 200, height: 200, channels: 3 },
    })
      .png({ compressionLevel: 0 })
      .toBuffer();
    assert.ok(big.length > 64 * 1024);
    const res = await postJob(server.client, jobForm([{ name: "content", bytes: big }, { name: "style", bytes: style }], TINY));
    assertApiError(res, 413, "INPUT_TOO_LARGE", /64 KiB per file/);
  });

  it("refuses an image with too many pixels, judged before decoding", async () => {
    // 240,000 px > 200,000, yet a few hundred bytes.
    const huge = await sharp({ create: { width: 600, height: 400, channels: 3, background: "#808080" } }).png().toBuffer();
    assert.ok(huge.length < 64 * 1024);
    const res = await postJob(server.client, jobForm([{ name: "content", bytes: huge }, { name: "style", bytes: style }], TINY));
    assertApiError(res, 413, "INPUT_TOO_LARGE", /600x400 .*limit of 0.2 MP/);
  });

  it("judges formats by the bytes, not by what the client claims", async () => {
    const text = Buffer.from("this is not a picture, whatever the header says\n".repeat(10));
    const res = await postJob(
      server.client,
      jobForm([{ name: "content", bytes: text, type: "image/png", filename: "photo.png" }, { name: "style", bytes: style }], TINY),
    );
    assertApiError(res, 415, "INPUT_NOT_IMAGE", /The content image is not/);

    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>');
    const res2 = await postJob(
      server.client,
      jobForm([{ name: "content", bytes: content }, { name: "style", bytes: svg, type: "image/png", filename: "s.png" }], TINY),
    );
    assertApiError(res2, 415, "INPUT_NOT_IMAGE", /Style image 1/);

    // A real PNG sent as "text/plain" named .txt is fine: the refusal above was about the bytes.
    const res3 = await postJob(
      server.client,
      jobForm([{ name: "content", bytes: content, type: "text/plain", filename: "notes.txt" }, { name: "style", bytes: style }], {
        ...TINY,
        size: "999",
      }),
    );
    assertApiError(res3, 400, "BAD_OPTION", /"size"/);
  });

  it("refuses a body that is not multipart", async () => {
    const response = await server.client.fetch(`/api/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ content: "/etc/passwd", style: ["/etc/hosts"] }),
    });
    assertApiError({ status: response.status, body: await response.json() }, 415, "BAD_REQUEST", /multipart/);
  });

  it("answers only for loopback host names and same-origin changes", async () => {
    const port = new URL(server.base).port;
    const viaHost = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "/api/jobs", headers: { host: `rebound.example:${port}` } }, (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      req.on("error", reject);
      req.end();
    });
    assertApiError(viaHost, 403, "FORBIDDEN", /rebound\.example/);

    const crossSite = await server.client.fetch(`/api/jobs`, {
      method: "POST",
      headers: { origin: "https://evil.example" },
      body: jobForm(files(), TINY),
    });
    assertApiError({ status: crossSite.status, body: await crossSite.json() }, 403, "FORBIDDEN");
    const sameSite = await server.client.fetch(`/api/jobs/x`, { method: "DELETE", headers: { origin: server.base } });
    assert.equal(sameSite.status, 404);
  });
});

describe("memory budget", () => {
  it("refuses up front a job that cannot fit, naming the largest size that would", async () => {
    // A budget that a 100 px run of this content just fits in one session with float64 vectors,
    // whatever the estimate's constants; float32 vectors make room for a few more pixels.
    const shape = { preset: "gatys" as const, size: 100, inputs: [{ width: 64, height: 48 }, { width: 48, height: 48 }] };
    const budget = estimateRunBytes(shape);
    let largest = 100;
    while (planRun({ ...shape, size: largest + 1 }, budget)) largest++;
    const server = await startServer({ memoryBudgetBytes: budget });
    try {
      const res = await postJob(server.client, jobForm(files(), { ...TINY, size: "2048" }));
      assertApiError(res, 422, "TOO_MUCH_MEMORY", new RegExp(`A 2048 px run .* choose a size of at most ${largest} px`));
      const list = await json(server.client.fetch(`/api/jobs`));
      assert.deepEqual(list.jobs, [], "a refused job is not listed");
    } finally {
      await server.app.close();
    }
  });

  it("counts the decoded input images: a 36 MP photo does not fit where a small one does", async () => {
    const small = [{ width: 64, height: 48 }, { width: 48, height: 48 }];
    // Room for a 64 px run of the small images and 50 MB more; 36 MP decoded takes well over 100 MB.
    const server = await startServer({ memoryBudgetBytes: estimateRunBytes({ preset: "gatys", size: 64, inputs: small }) + 50e6 });
    try {
      const huge = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: "#808080" } }).png().toBuffer();
      const res = await postJob(server.client, jobForm([{ name: "content", bytes: huge }, { name: "style", bytes: style }], { ...TINY, size: "64" }));
      assertApiError(res, 422, "TOO_MUCH_MEMORY", /no size fits; use smaller images/);
    } finally {
      await server.app.close();
    }
  });

  it("says so when no size fits", async () => {
    const server = await startServer({ memoryBudgetBytes: 64 * 2 ** 20 });
    try {
      const res = await postJob(server.client, jobForm(files(), TINY));
      assertApiError(res, 422, "TOO_MUCH_MEMORY", /memory budget of 64\.0 MiB: no size fits/);
    } finally {
      await server.app.close();
    }
  });
});

describe("real runs", { skip: HAVE_WEIGHTS ? false : NO_WEIGHTS_REASON }, () => {
  let server: Running;
  before(async () => {
    server = await startServer({ maxRunning: 1, maxQueued: 1 });
  });
  after(() => server.app.close());

  it("runs a job to the end: events, progress, previews and a valid result PNG", async () => {
    const created = await postJob(server.client, jobForm(files(), TINY));
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.body.position, 0, "an idle server starts the job at once");
    assert.equal(created.headers.get("location"), `/api/jobs/${created.body.id}`);
    const id: string = created.body.id;

    const events = await readEvents(server.client, `/api/jobs/${id}/events`, isEnd, 120_000);
    const names = events.map((e) => e.event);
    assert.equal(names[0], "status");
    assert.equal(names.at(-1), "done", JSON.stringify(events.at(-1)?.data.error));
    const progress = events.filter((e) => e.event === "progress").map((e) => e.data);
    assert.ok(progress.length >= 4, `expected progress after every evaluation, got ${progress.length}`);
    assert.ok(progress.every((p) => Number.isFinite(p.loss) && p.evaluations > 0));
    const previews = events.filter((e) => e.event === "preview").map((e) => e.data.url as string);
    assert.ok(previews.length >= 2, `expected previews every 2 evaluations, got ${previews.length}`);
    assert.equal(new Set(previews).size, previews.length, "each preview has a new URL");

    const done = events.at(-1)!.data;
    assert.equal(done.state, "done");
    assert.equal(done.position, null);
    assert.equal(done.resultUrl, `/api/jobs/${id}/result.png`);
    assert.equal(Math.max(done.result.width, done.result.height), 48);

    const png = await server.client.fetch(done.resultUrl);
    assert.equal(png.status, 200);
    assert.equal(png.headers.get("content-type"), "image/png");
    const meta = await sharp(Buffer.from(await png.arrayBuffer())).metadata();
    assert.equal(meta.format, "png");
    assert.deepEqual([meta.width, meta.height], [done.result.width, done.result.height]);

    const status = await json(server.client.fetch(`/api/jobs/${id}`));
    assert.equal(status.state, "done");
    const previewAfter = await server.client.fetch(`/api/jobs/${id}/preview.png`);
    assert.equal(previewAfter.status, 404, "previews are dropped once the result exists");
    await previewAfter.arrayBuffer();
    const list = await json(server.client.fetch(`/api/jobs`));
    assert.ok(list.jobs.some((j: any) => j.id === id && j.state === "done"));

    // A late subscriber to a finished job gets its end at once.
    const late = await readEvents(server.client, `/api/jobs/${id}/events`, isEnd, 5_000);
    assert.deepEqual(late.map((e) => e.event), ["status", "done"]);

    const removed = await server.client.fetch(`/api/jobs/${id}`, { method: "DELETE" });
    assert.equal(removed.status, 200);
    await removed.arrayBuffer();
    assert.equal((await server.client.fetch(`/api/jobs/${id}/result.png`)).status, 404, "deleting a finished job forgets it");
  });

  it("runs one job at a time: the second waits at position 1, the third is refused", async () => {
    const first = await postJob(server.client, jobForm(files(), TINY));
    const second = await postJob(server.client, jobForm(files(), TINY));
    const third = await postJob(server.client, jobForm(files(), TINY));
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.body.position, 1);
    assert.equal(second.body.status.state, "queued");
    assertApiError(third, 503, "QUEUE_FULL", /queue is full/);
    assert.equal(third.headers.get("retry-after"), "30");

    const secondEvents = await readEvents(server.client, `/api/jobs/${second.body.id}/events`, isEnd, 180_000);
    const states = secondEvents.filter((e) => e.event === "status").map((e) => `${e.data.state}@${e.data.position}`);
    assert.equal(states[0], "queued@1", states.join(" "));
    assert.ok(states.includes("running@0"), states.join(" "));
    assert.equal(secondEvents.at(-1)!.event, "done");

    const a = await json(server.client.fetch(`/api/jobs/${first.body.id}`));
    const b = await json(server.client.fetch(`/api/jobs/${second.body.id}`));
    assert.equal(a.state, "done");
    assert.ok(Date.parse(b.startedAt) >= Date.parse(a.finishedAt), "the second job started after the first finished");
  });

  it("refuses a full queue before reading the upload", async () => {
    const full = await startServer({ maxRunning: 1, maxQueued: 0 });
    try {
      const running = await postJob(full.client, jobForm(files(), { ...TINY, size: "64", iterations: "50", evalsPerIteration: "50" }));
      assert.equal(running.status, 202);
      const { port } = new URL(full.base);
      const socket = connect(Number(port), "127.0.0.1");
      // Headers and the first bytes of a 10 MB upload that never comes.
      socket.write(
        `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: multipart/form-data; boundary=x\r\n` +
          `Content-Length: 10000000\r\n\r\n--x\r\n`,
      );
      const answer = await new Promise<string>((resolve) => {
        let text = "";
        socket.on("data", (d) => {
          text += d.toString();
          if (text.includes("\r\n\r\n")) resolve(text);
        });
        setTimeout(() => resolve(text || "no answer"), 5_000);
      });
      socket.destroy();
      assert.match(answer, /^HTTP\/1\.1 503 /, answer);
      assert.match(answer, /retry-after: 30/i);
      await full.client.fetch(`/api/jobs/${running.body.id}`, { method: "DELETE" });
    } finally {
      await full.app.close();
    }
  });

  it("cancels a running job within moments, and a waiting one at once", async () => {
    const long = { ...TINY, size: "64", iterations: "50", evalsPerIteration: "50" };
    const running = await postJob(server.client, jobForm(files(), long));
    const waiting = await postJob(server.client, jobForm(files(), long));
    assert.equal(waiting.body.position, 1);

    await readEvents(server.client, `/api/jobs/${running.body.id}/events`, (e) => e.event === "progress", 120_000);
    // The waiting one first: once the running one stops, the waiting one would start.
    const cancelWaiting = await server.client.fetch(`/api/jobs/${waiting.body.id}`, { method: "DELETE" });
    assert.equal(cancelWaiting.status, 200);
    assert.equal((await json(cancelWaiting)).state, "cancelled");

    const started = Date.now();
    const end = readEvents(server.client, `/api/jobs/${running.body.id}/events`, isEnd, 30_000);
    const cancel = await server.client.fetch(`/api/jobs/${running.body.id}`, { method: "DELETE" });
    assert.equal(cancel.status, 202);
    assert.equal((await json(cancel)).cancelRequested, true);

    const last = (await end).at(-1)!;
    assert.equal(last.event, "failed");
    assert.equal(last.data.state, "cancelled");
    assert.equal(last.data.error.code, "CANCELLED");
    assert.ok(Date.now() - started < 15_000, `cancelling took ${Date.now() - started} ms`);
    const result = await server.client.fetch(`/api/jobs/${running.body.id}/result.png`);
    assertApiError({ status: result.status, body: await result.json() }, 409, "NOT_READY");
  });

  it("closing the server cancels its jobs and ends their event streams", async () => {
    const own = await startServer();
    const created = await postJob(own.client, jobForm(files(), { ...TINY, size: "64", iterations: "50", evalsPerIteration: "50" }));
    const url = `/api/jobs/${created.body.id}/events`;
    await readEvents(own.client, url, (e) => e.event === "progress", 120_000);
    const stream = readEvents(own.client, url, isEnd, 30_000);
    // Give the second stream time to connect before closing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    await own.app.close();
    assert.ok(Date.now() - started < 15_000, `closing took ${Date.now() - started} ms`);
    const last = (await stream).at(-1)!;
    assert.equal(last.event, "failed");
    assert.equal(last.data.error.code, "CANCELLED");
  });
});
