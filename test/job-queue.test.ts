/**
 * The server's job queue keeps what a finished job's page needs (status, result image) and lets
 * go of the uploaded images as soon as the job ends, however it ends: uploads of up to 20 MiB
 * each, with 50 finished jobs kept, would otherwise hold gigabytes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { JobStatus, JobSubmission } from "../src/server/JobQueue.js";
import { LocalJobQueue } from "../src/server/LocalJobQueue.js";
import { HAVE_WEIGHTS, NO_WEIGHTS_REASON, WEIGHTS, gradientPng, texturePng } from "./helpers/serverClient.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const OWNER = "a".repeat(43);
const limits = { maxRunning: 1, maxQueued: 4, memoryBudgetBytes: 2 ** 40, maxHistory: 50 };

/** Submits a job whose images only the queue holds; the WeakRefs tell whether they are still alive. */
async function submit(queue: LocalJobQueue, fields: Partial<JobSubmission["options"]>, content?: Buffer): Promise<{ id: string; refs: WeakRef<Buffer>[] }> {
  const images = [content ?? (await gradientPng(64, 48)), await texturePng(48, 48)];
  const refs = images.map((b) => new WeakRef(b));
  const { id } = await queue.submit({
    owner: OWNER,
    options: { content: images[0], styles: [images[1]], preset: "gatys", size: 48, iterations: 1, evalsPerIteration: 2, model: "vgg19", weights: WEIGHTS, ...fields },
    memoryBytes: 1,
    summary: { preset: "gatys", size: 48, strength: 1, styles: 1 },
  });
  return { id, refs };
}

/** The job's last status, once it has ended. */
async function ended(queue: LocalJobQueue, id: string): Promise<JobStatus> {
  return new Promise<JobStatus>((resolve) => {
    void queue.watch(id, OWNER, (event) => {
      if (event.type === "end") resolve(event.status);
    });
  });
}

async function collected(refs: WeakRef<Buffer>[]): Promise<boolean> {
  for (let i = 0; i < 5; i++) {
    // Let pending callbacks finish before collecting.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    if (refs.every((r) => r.deref() === undefined)) return true;
  }
  return false;
}

describe("a finished job holds no input images", () => {
  it("done", { skip: HAVE_WEIGHTS ? false : NO_WEIGHTS_REASON, timeout: 120_000 }, async () => {
    const queue = new LocalJobQueue(limits);
    const { id, refs } = await submit(queue, {});
    const status = await ended(queue, id);
    assert.equal(status.state, "done", JSON.stringify(status.error));
    assert.ok(await queue.resultPng(id, OWNER), "the result is kept");
    assert.ok(await collected(refs), "the uploaded images are still held after the job ended");
  });

  it("failed", async () => {
    const queue = new LocalJobQueue(limits);
    const { id, refs } = await submit(queue, {}, Buffer.from("not an image, but 64 bytes of it..............................."));
    const status = await ended(queue, id);
    assert.equal(status.state, "failed");
    assert.ok(await collected(refs), "the uploaded images are still held after the job failed");
  });

  it("cancelled while waiting", async () => {
    const queue = new LocalJobQueue({ ...limits, maxRunning: 1 });
    const first = (await submit(queue, { iterations: 100, evalsPerIteration: 100 })).id;
    const { id, refs } = await submit(queue, {});
    assert.equal((await queue.get(id, OWNER))?.state, "queued");
    await queue.cancel(id, OWNER);
    assert.equal((await queue.get(id, OWNER))?.state, "cancelled");
    assert.ok(await collected(refs), "the uploaded images are still held after the job was cancelled");
    await queue.cancel(first, OWNER);
    await queue.close(10_000);
  });
});
