/**
 * The Redis queue as its users meet it: a real redis-server, `pastiche serve --redis` and
 * `pastiche worker` processes, the web API over HTTP. Workers are killed, the server restarted,
 * Redis stopped and started again, as happens to a real deployment.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { assertExit, startPastiche, servedUrl, type Started } from "./helpers/processes.js";
import { RedisServer } from "./helpers/redisServer.js";
import {
  Client,
  HAVE_WEIGHTS,
  NO_WEIGHTS_REASON,
  WEIGHTS,
  gradientPng,
  isEnd,
  jobForm,
  json,
  postJob,
  readEvents,
  texturePng,
  type SseEvent,
} from "./helpers/serverClient.js";

/** A few seconds per job on a shared 2-core machine. */
const TINY = { preset: "gatys", size: "48", iterations: "1", evalsPerIteration: "8" };
/** Long enough to be caught mid-run, short enough to be run again after a worker dies. */
const LONGER = { ...TINY, evalsPerIteration: "40" };
/** Seconds after its first evaluation, so that a signal sent then finds it still running. */
const MIDRUN = { ...TINY, evalsPerIteration: "120" };
/** Runs for minutes unless stopped. */
const ENDLESS = { ...TINY, iterations: "10", evalsPerIteration: "1000" };

/** A `pastiche` process whose output the test can wait on. */
class Proc {
  out = "";
  constructor(readonly started: Started) {
    started.child.stdout!.on("data", (d: Buffer) => (this.out += d.toString()));
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.out)) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms; stdout:\n${this.out}`);
      if (this.started.child.exitCode !== null) throw new Error(`exited (code ${this.started.child.exitCode}): ${(await this.started.exit).stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.started.child.exitCode === null && this.started.child.signalCode === null) this.started.child.kill(signal);
    await this.started.exit;
  }
}

describe("serve --redis with worker processes", { skip: HAVE_WEIGHTS ? false : NO_WEIGHTS_REASON }, () => {
  let redis: RedisServer;
  let serve: Proc;
  let client: Client;
  const workers: Proc[] = [];
  /** A worker whose memory budget no job fits: it must hand every job back. */
  let small: Proc;
  let content: Buffer;
  let style: Buffer;

  const startServe = async (workerArgs: string[] = ["--workers", "0"]): Promise<Client> => {
    serve = new Proc(startPastiche(["serve", "--port", "0", "--redis", redis.url, "--max-queue", "20", ...workerArgs], {}));
    const base = new URL(await servedUrl(serve.started)).origin;
    const next = new Client(base);
    // The same browser after the restart: same cookie, so the same owner.
    for (const [k, v] of client?.cookies ?? []) next.cookies.set(k, v);
    return next;
  };
  const startWorker = async (extra: string[] = []): Promise<Proc> => {
    const worker = new Proc(startPastiche(["worker", "--redis", redis.url, "--weights", WEIGHTS, "--model", "vgg19", "--threads", "1", ...extra], {}));
    await worker.waitFor(/waiting for jobs/, 60_000);
    return worker;
  };
  const submit = async (fields: Record<string, string>): Promise<string> => {
    const res = await postJob(client, jobForm([{ name: "content", bytes: content }, { name: "style", bytes: style }], fields));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id as string;
  };
  const untilEnd = (id: string, timeoutMs = 60_000, stop: (e: SseEvent) => boolean = isEnd) =>
    readEvents(client, `/api/jobs/${id}/events`, stop, timeoutMs);
  const finalStatus = async (id: string) => (await untilEnd(id)).at(-1)!.data;
  /** The workers that logged `what` for the job; they log it just after the record says so, so this waits a moment. */
  const saidBy = async (id: string, what: string): Promise<Proc[]> => {
    const line = `job ${id} ${what}`;
    const all = [...workers, serve];
    for (let waited = 0; waited < 5_000 && !all.some((w) => w.out.includes(line)); waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return all.filter((w) => w.out.includes(line));
  };

  before(async () => {
    content = await gradientPng(64, 48);
    style = await texturePng(48, 48);
    redis = await RedisServer.start();
    let others: Proc[];
    [client, small, ...others] = await Promise.all([startServe(), startWorker(["--max-memory", "100M"]), startWorker(), startWorker()]);
    workers.push(...others);
    // The client's cookie first: jobs posted at once would otherwise each make a new client.
    assert.equal((await client.fetch("/api/jobs")).status, 200);
  });

  after(async () => {
    await Promise.all([serve?.stop(), small?.stop("SIGKILL"), ...workers.map((w) => w.stop("SIGKILL"))]);
    await redis?.destroy();
  });

  it("two workers share six jobs, each done with a valid PNG; a worker without room for them takes none", { timeout: 120_000 }, async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => submit(TINY)));
    const statuses = await Promise.all(ids.map(finalStatus));
    for (const status of statuses) {
      assert.equal(status.state, "done", JSON.stringify(status.error));
      const png = await client.fetch(status.resultUrl);
      assert.equal(png.status, 200);
      const meta = await sharp(Buffer.from(await png.arrayBuffer())).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ["png", 48, 36]);
    }
    for (const id of ids) assert.equal((await saidBy(id, "done")).length, 1, `job ${id} ran on exactly one worker`);
    for (const [i, worker] of workers.entries()) {
      assert.ok(ids.some((id) => worker.out.includes(`job ${id} done`)), `worker ${i} ran none of the jobs:\n${worker.out}`);
    }
    assert.doesNotMatch(small.out, /started/);
    assert.match(small.out, /needs about [\d.]+ [MG]iB of memory, more than this worker's budget of 100\.0 MiB: handed back/);
    // It has shown what it does; from here on, two workers of equal budget.
    await small.stop("SIGKILL");
  });

  it("a job whose worker is killed mid-run is taken over by another worker", { timeout: 120_000 }, async () => {
    const id = await submit(LONGER);
    await untilEnd(id, 60_000, (e) => e.event === "progress");
    const victim = workers.find((w) => w.out.includes(`job ${id} started`));
    assert.ok(victim, "a worker says it started the job");
    await victim.stop("SIGKILL");
    workers.splice(workers.indexOf(victim), 1);
    const status = await finalStatus(id);
    assert.equal(status.state, "done", JSON.stringify(status.error));
    assert.equal((await saidBy(id, "done")).length, 1, "the surviving worker finished it");
    assert.ok(status.notices.some((n: string) => /stopped responding/.test(n)), JSON.stringify(status.notices));
  });

  it("a restarted server lists its owner's jobs and results; a job running meanwhile finishes", { timeout: 120_000 }, async () => {
    const earlier = (await json(client.fetch("/api/jobs"))).jobs;
    const running = await submit(LONGER);
    await untilEnd(running, 60_000, (e) => e.event === "progress");
    await serve.stop();
    // Back with a worker of its own, which replaces the one killed above for the tests below.
    client = await startServe(["--workers", "1", "--weights", WEIGHTS, "--model", "vgg19", "--threads", "1"]);
    await serve.waitFor(/waiting for jobs/, 30_000);

    const status = await finalStatus(running);
    assert.equal(status.state, "done", JSON.stringify(status.error));
    const listed = (await json(client.fetch("/api/jobs"))).jobs;
    assert.deepEqual(listed.map((j: { id: string }) => j.id), [...earlier.map((j: { id: string }) => j.id), running]);
    assert.ok(listed.every((j: { state: string }) => j.state === "done"));
    const png = await client.fetch(listed[0].resultUrl);
    assert.equal(png.status, 200);
    assert.equal((await sharp(Buffer.from(await png.arrayBuffer())).metadata()).format, "png");

    // Two jobs at once for two idle workers, one of them the server's own: each takes one.
    const pair = await Promise.all([submit(TINY), submit(TINY)]);
    for (const id of pair) assert.equal((await finalStatus(id)).state, "done");
    const byServer = await Promise.all(pair.map((id) => saidBy(id, "done")));
    assert.equal(byServer.filter((procs) => procs.includes(serve)).length, 1, `the server's own worker ran one of them:\n${serve.out}`);

    const stranger = new Client(client.base);
    assert.deepEqual((await json(stranger.fetch("/api/jobs"))).jobs, [], "another client sees none of them");
    assert.equal((await stranger.fetch(`/api/jobs/${running}`)).status, 404);
  });

  it("a worker stopped with SIGTERM puts its running job back; another worker runs it", { timeout: 90_000 }, async () => {
    const id = await submit(MIDRUN);
    await untilEnd(id, 60_000, (e) => e.event === "progress");
    const [runner] = await saidBy(id, "started");
    await runner.stop("SIGTERM");
    assert.match(runner.out, new RegExp(`job ${id} put back in the queue`));
    if (runner === serve) client = await startServe();
    else workers.splice(workers.indexOf(runner), 1);
    const status = await finalStatus(id);
    assert.equal(status.state, "done", JSON.stringify(status.error));
    assert.ok(status.notices.some((n: string) => /was stopped: it starts again on another worker/.test(n)), JSON.stringify(status.notices));
  });

  it("cancelling on the page stops the job on the worker running it", { timeout: 60_000 }, async () => {
    const id = await submit(ENDLESS);
    await untilEnd(id, 60_000, (e) => e.event === "progress");
    const cancelledAt = Date.now();
    const res = await client.fetch(`/api/jobs/${id}`, { method: "DELETE" });
    assert.equal(res.status, 202);
    const status = await finalStatus(id);
    assert.equal(status.state, "cancelled");
    assert.equal(status.error.code, "CANCELLED");
    assert.ok(Date.now() - cancelledAt < 10_000, `stopped ${Date.now() - cancelledAt} ms after the request`);
    assert.ok(status.progress.evaluation < 1000);
    assert.equal((await saidBy(id, "cancelled")).length, 1, "the worker says it stopped the job");
  });

  it("answers 503 while Redis is away and recovers when it is back", { timeout: 90_000 }, async () => {
    const earlier = (await json(client.fetch("/api/jobs"))).jobs.length;
    await redis.stop();
    for (const response of [
      await client.fetch("/api/jobs"),
      await client.fetch("/api/jobs", { method: "POST", body: jobForm([{ name: "content", bytes: content }, { name: "style", bytes: style }], TINY) }),
    ]) {
      assert.equal(response.status, 503);
      assert.ok(response.headers.get("retry-after"));
      const body = await json(response);
      assert.equal(body.error.code, "QUEUE_UNAVAILABLE");
      assert.match(body.error.message, /cannot reach its Redis server at 127\.0\.0\.1:\d+/);
    }

    await redis.resume();
    const deadline = Date.now() + 20_000;
    let listed: Response;
    while ((listed = await client.fetch("/api/jobs")).status !== 200) {
      assert.ok(Date.now() < deadline, "the server did not recover within 20 s of Redis coming back");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal((await json(listed)).jobs.length, earlier, "the jobs are still there (Redis kept them on disk)");
    const status = await finalStatus(await submit(TINY));
    assert.equal(status.state, "done", JSON.stringify(status.error));
  });

  it("refuses a worker without a usable Redis address", { timeout: 60_000 }, async () => {
    const r = await startPastiche(["worker", "--redis", "http://localhost:6379"], {}).exit;
    assertExit(r, 2);
    assert.match(r.stderr, /--redis http:\/\/localhost:6379: give the Redis server as redis:\/\/HOST:PORT/);
  });
});
