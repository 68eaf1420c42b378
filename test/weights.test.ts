import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { isPasticheError, type ErrorCode } from "../src/errors.js";
import { backboneFor, type ConvLayer } from "../src/backbone/Backbone.js";
import { md5File, resolveWeights, weightsCacheDir, type CatalogueEntry } from "../src/weights/WeightStore.js";
import { writeRandomVggH5, writeTruncatedCopy, type WrittenWeights } from "./helpers/makeWeights.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHILD = fileURLToPath(new URL("./helpers/resolveWeightsChild.ts", import.meta.url));

/** resolveWeights in a process of its own (optionally as another user), as a separate `pastiche` run. */
function resolveInChild(entry: CatalogueEntry, cacheDir: string, uid?: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, JSON.stringify(entry), cacheDir], {
      cwd: ROOT,
      ...(uid !== undefined && { uid, gid: uid }),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const SHARED_VGG19 = fileURLToPath(new URL("../../shared/weights/vgg19_notop_8bit.h5", import.meta.url));

let dir: string;
/** VGG19 written up to block2_pool: 4 conv layers, ~1 MB. */
let small: string;
let smallWritten: WrittenWeights;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "pastiche-weights-"));
  small = path.join(dir, "small_vgg19.h5");
  smallWritten = await writeRandomVggH5(small, "vgg19", { seed: 7, upTo: "block2_pool" });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Asserts a PasticheError with `code` whose message matches every pattern. */
function fails(code: ErrorCode, ...patterns: (RegExp | string)[]) {
  return (e: unknown) => {
    assert.ok(isPasticheError(e), `expected a PasticheError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of patterns) {
      if (typeof p === "string") assert.ok(e.message.includes(p), `message lacks "${p}": ${e.message}`);
      else assert.match(e.message, p);
    }
    return true;
  };
}

const vgg19Convs = () => backboneFor("vgg19").layers.filter((l): l is ConvLayer => l.kind === "conv");
const md5 = (data: Buffer) => createHash("md5").update(data).digest("hex");

describe("WeightLoader", () => {
  test("reads every shape and value exactly as written", async () => {
    const w = await backboneFor("vgg19").loadWeights(small, { upTo: "block2_pool" });
    assert.equal(w.model, "vgg19");
    assert.deepEqual([...w.layers.keys()], ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2"]);
    for (const layer of vgg19Convs().slice(0, 4)) {
      const p = w.layers.get(layer.name)!;
      assert.equal(p.inChannels, layer.inChannels);
      assert.equal(p.outChannels, layer.outChannels);
      assert.equal(p.kernel.length, 9 * layer.inChannels * layer.outChannels);
      assert.deepEqual(p.kernel, smallWritten.get(layer.name)!.kernel);
      assert.deepEqual(p.bias, smallWritten.get(layer.name)!.bias);
    }
    assert.equal(w.source.path, small);
    assert.equal(w.source.md5, md5(await readFile(small)));
    assert.equal(w.source.catalogued, false);
    assert.match(w.source.note!, /not the catalogued vgg19 file/);
  });

  test("takes the dataset names from weight_names", async () => {
    const file = path.join(dir, "suffix2.h5");
    const written = await writeRandomVggH5(file, "vgg19", { seed: 2, upTo: "block1_pool", weightSuffix: "_2:0" });
    const w = await backboneFor("vgg19").loadWeights(file, { upTo: "block1_pool" });
    assert.deepEqual(w.layers.get("block1_conv2")!.bias, written.get("block1_conv2")!.bias);
  });

  test("upTo loads only the layers up to that one", async () => {
    const w = await backboneFor("vgg19").loadWeights(small, { upTo: "block1_conv2" });
    assert.deepEqual([...w.layers.keys()], ["block1_conv1", "block1_conv2"]);
    await assert.rejects(backboneFor("vgg19").loadWeights(small, { upTo: "block9_conv1" }), fails("BAD_OPTION", "block9_conv1"));
  });

  test("a file that stops before the layers asked for is rejected", async () => {
    await assert.rejects(
      backboneFor("vgg19").loadWeights(small),
      fails("WEIGHTS_INVALID", small, "no layer block3_conv1", "only the layers up to block2_conv2"),
    );
  });

  test("generated weights are seeded and He-scaled", async () => {
    const again = await writeRandomVggH5(path.join(dir, "again.h5"), "vgg19", { seed: 7, upTo: "block1_pool" });
    const other = await writeRandomVggH5(path.join(dir, "other.h5"), "vgg19", { seed: 8, upTo: "block1_pool" });
    assert.deepEqual(again.get("block1_conv2"), smallWritten.get("block1_conv2"));
    assert.notDeepEqual(other.get("block1_conv2"), smallWritten.get("block1_conv2"));
    const k = smallWritten.get("block2_conv1")!.kernel;
    const std = Math.sqrt(k.reduce((s, v) => s + v * v, 0) / k.length);
    const expected = Math.sqrt(2 / (9 * 64));
    assert.ok(Math.abs(std / expected - 1) < 0.02, `std ${std}, expected ${expected}`);
  });

  const broken: [string, Parameters<typeof writeRandomVggH5>[2]["defect"], (string | RegExp)[]][] = [
    ["a wrong kernel shape", { kind: "wrongShape", layer: "block2_conv1", shape: [3, 3, 64, 64] }, [
      "block2_conv1", "[3,3,64,64]", "[3,3,64,128]"]],
    ["a missing layer in the middle", { kind: "missingLayer", layer: "block1_conv2" }, [
      "lacks layer block1_conv2", "block2_conv1, block2_conv2"]],
    ["a missing last layer", { kind: "missingLayer", layer: "block2_conv2" }, [
      "no layer block2_conv2", "only the layers up to block2_conv1"]],
    ["a float64 kernel", { kind: "wrongDtype", layer: "block1_conv2" }, ["block1_conv2", "<d", "float32"]],
    ["a NaN bias", { kind: "nonFinite", layer: "block2_conv2" }, ["block2_conv2_b_1:0", "NaN"]],
    ["no layer_names", { kind: "noLayerNames" }, ["layer_names", "not a Keras"]],
  ];
  for (const [what, defect, patterns] of broken) {
    test(`rejects ${what}`, async () => {
      const file = path.join(dir, `broken-${defect!.kind}-${what.length}.h5`);
      await writeRandomVggH5(file, "vgg19", { seed: 1, upTo: "block2_pool", defect });
      await assert.rejects(
        backboneFor("vgg19").loadWeights(file, { upTo: "block2_pool" }),
        fails("WEIGHTS_INVALID", file, ...patterns, "--weights"),
      );
    });
  }

  test("rejects files that are not HDF5 or truncated, and missing files", async () => {
    const text = path.join(dir, "text.h5");
    await writeFile(text, "<html>403 Forbidden</html>");
    await assert.rejects(backboneFor("vgg19").loadWeights(text), fails("WEIGHTS_INVALID", text, "not a readable HDF5 file", "signature"));
    const truncated = path.join(dir, "truncated.h5");
    await writeTruncatedCopy(small, truncated, Math.floor((await stat(small)).size * 0.6));
    await assert.rejects(
      backboneFor("vgg19").loadWeights(truncated, { upTo: "block2_pool" }),
      fails("WEIGHTS_INVALID", truncated, "truncated", "interrupted"),
    );
    const missing = path.join(dir, "nope.h5");
    await assert.rejects(backboneFor("vgg19").loadWeights(missing), fails("WEIGHTS_MISSING", missing));
  });

  test("names the right model when the layers belong to the other one", async () => {
    const deep19 = path.join(dir, "deep_vgg19.h5");
    await writeRandomVggH5(deep19, "vgg19", { seed: 3, upTo: "block3_pool" });
    await assert.rejects(
      backboneFor("vgg16").loadWeights(deep19, { upTo: "block2_pool" }),
      fails("WEIGHTS_INVALID", "block3_conv4", "looks like VGG19 weights; use --model vgg19"),
    );
    // A shallow file fits both models up to its depth: no guess then.
    await assert.rejects(backboneFor("vgg16").loadWeights(small), (e: unknown) => {
      fails("WEIGHTS_INVALID", "no layer block3_conv1")(e);
      assert.doesNotMatch((e as Error).message, /looks like/);
      return true;
    });
  });

  test("a full random VGG16 file: generated fast, loads completely, is refused as VGG19", async () => {
    const full16 = path.join(dir, "full_vgg16.h5");
    let t = performance.now();
    await writeRandomVggH5(full16, "vgg16", { seed: 16 });
    const generateMs = performance.now() - t;
    t = performance.now();
    const w = await backboneFor("vgg16").loadWeights(full16);
    const loadMs = performance.now() - t;
    console.log(`# random VGG16: generated in ${generateMs.toFixed(0)} ms, loaded in ${loadMs.toFixed(0)} ms`);
    assert.ok(generateMs < 5000, `generation took ${generateMs} ms`);
    assert.equal(w.layers.size, 13);
    assert.equal(w.layers.get("block5_conv3")!.kernel.length, 9 * 512 * 512);
    await assert.rejects(
      backboneFor("vgg19").loadWeights(full16),
      fails("WEIGHTS_INVALID", "lacks layer block3_conv4", "looks like VGG16 weights; use --model vgg16"),
    );
    await rm(full16);
  });
});

describe("weightsCacheDir", () => {
  test("PASTICHE_CACHE, then XDG_CACHE_HOME/pastiche, then HOME/.cache/pastiche", () => {
    assert.equal(weightsCacheDir({ PASTICHE_CACHE: "/p", XDG_CACHE_HOME: "/x", HOME: "/h" }), "/p");
    assert.equal(weightsCacheDir({ PASTICHE_CACHE: "rel" }), path.resolve("rel"));
    assert.equal(weightsCacheDir({ XDG_CACHE_HOME: "/x", HOME: "/h" }), "/x/pastiche");
    assert.equal(weightsCacheDir({ PASTICHE_CACHE: "", XDG_CACHE_HOME: "/x", HOME: "/h" }), "/x/pastiche");
    // The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
    assert.equal(weightsCacheDir({ XDG_CACHE_HOME: "x", HOME: "/h" }), "/h/.cache/pastiche");
    assert.equal(weightsCacheDir({ HOME: "/h" }), "/h/.cache/pastiche");
  });
});

/** What the test server does with the next requests. */
interface ServerState {
  body: Buffer;
  honourRange: boolean;
  /** Drop the connection after this many body bytes of the next response. */
  cutAfter?: number;
  /** Send the body in 16 pieces this far apart. */
  chunkDelayMs?: number;
  status?: number;
}

describe("WeightStore", () => {
  let server: http.Server;
  let base: string;
  let state: ServerState;
  let requests: { range?: string }[];
  let body: Buffer;
  let entry: CatalogueEntry;
  let cacheCount = 0;
  const freshCache = () => path.join(dir, `cache-${++cacheCount}`);
  const cachedPath = (cache: string) => path.join(cache, entry.fileName);

  before(async () => {
    body = await readFile(small);
    server = http.createServer((req, res) => {
      requests.push({ range: req.headers.range });
      if (state.status) {
        res.writeHead(state.status).end("no");
        return;
      }
      let data = state.body;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      if (range && state.honourRange) {
        const start = Number(range[1]);
        if (start >= data.length) {
          res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
          return;
        }
        res.writeHead(206, {
          "content-range": `bytes ${start}-${data.length - 1}/${data.length}`,
          "content-length": data.length - start,
        });
        data = data.subarray(start);
      } else {
        res.writeHead(200, { "content-length": data.length });
      }
      if (state.cutAfter !== undefined) {
        const n = state.cutAfter;
        state.cutAfter = undefined;
        // Give the client time to take in the bytes before the reset, which would discard them.
        res.write(data.subarray(0, n), () => setTimeout(() => res.destroy(), 300));
        return;
      }
      if (state.chunkDelayMs !== undefined) {
        // Slowly, in 16 pieces, so that clients that start together overlap.
        const piece = Math.ceil(data.length / 16);
        const send = (at: number) => {
          if (at >= data.length) return void res.end();
          res.write(data.subarray(at, at + piece));
          setTimeout(() => send(at + piece), state.chunkDelayMs);
        };
        send(0);
        return;
      }
      res.end(data);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    entry = { model: "vgg19", url: `${base}/vgg19.h5`, fileName: "test_vgg19.h5", size: body.length, md5: md5(body) };
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const reset = (s: Partial<ServerState> = {}) => {
    state = { body, honourRange: true, ...s };
    requests = [];
  };

  test("downloads into the cache with progress, then reuses it without the network", async () => {
    reset();
    const cache = freshCache();
    const progress: [number, number][] = [];
    const r = await resolveWeights({ cacheDir: cache, entry, onProgress: (a, b) => progress.push([a, b]) });
    assert.deepEqual(r, { path: cachedPath(cache), md5: entry.md5, catalogued: true, downloaded: true });
    assert.equal(await md5File(r.path), entry.md5);
    assert.ok(!existsSync(`${r.path}.part`));
    assert.ok(progress.length > 0);
    assert.deepEqual(progress[progress.length - 1], [body.length, body.length]);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i][0] > progress[i - 1][0]);
    assert.ok(progress.every(([, total]) => total === body.length));

    const again = await resolveWeights({ cacheDir: cache, entry });
    assert.equal(again.downloaded, false);
    assert.equal(requests.length, 1);
  });

  test("resumes a .part left by an earlier run with an HTTP Range request", async () => {
    reset();
    const cache = freshCache();
    await mkdir(cache, { recursive: true });
    await writeFile(`${cachedPath(cache)}.part`, body.subarray(0, 1000));
    const progress: number[] = [];
    const r = await resolveWeights({ cacheDir: cache, entry, onProgress: (a) => progress.push(a) });
    assert.deepEqual(requests, [{ range: "bytes=1000-" }]);
    assert.ok(progress[0] > 1000);
    assert.equal(await md5File(r.path), entry.md5);
  });

  test("an interrupted transfer keeps its bytes and the next run resumes it", async () => {
    reset({ cutAfter: 50_000 });
    const cache = freshCache();
    await assert.rejects(
      resolveWeights({ cacheDir: cache, entry }),
      fails("WEIGHTS_DOWNLOAD", entry.url, `${cachedPath(cache)}.part`, "resumes"),
    );
    const kept = (await stat(`${cachedPath(cache)}.part`)).size;
    assert.ok(kept > 0 && kept <= 50_000, `kept ${kept} bytes`);
    assert.ok(!existsSync(cachedPath(cache)));
    const r = await resolveWeights({ cacheDir: cache, entry });
    assert.deepEqual(requests[1], { range: `bytes=${kept}-` });
    assert.equal(await md5File(r.path), entry.md5);
  });

  test("starts over when the server ignores Range", async () => {
    reset({ honourRange: false });
    const cache = freshCache();
    await mkdir(cache, { recursive: true });
    await writeFile(`${cachedPath(cache)}.part`, Buffer.alloc(1000, 0xee));
    const r = await resolveWeights({ cacheDir: cache, entry });
    assert.equal(requests.length, 1);
    assert.equal(await md5File(r.path), entry.md5);
  });

  test("a spoiled .part fails the md5 after resuming and is fetched again from the start", async () => {
    reset();
    const cache = freshCache();
    await mkdir(cache, { recursive: true });
    await writeFile(`${cachedPath(cache)}.part`, Buffer.alloc(1000, 0xee));
    const r = await resolveWeights({ cacheDir: cache, entry });
    assert.deepEqual(requests, [{ range: "bytes=1000-" }, { range: undefined }]);
    assert.equal(await md5File(r.path), entry.md5);
  });

  test("a corrupt or wrong-size cached file is deleted and fetched again", async () => {
    reset();
    const cache = freshCache();
    const first = await resolveWeights({ cacheDir: cache, entry });
    const corrupt = Buffer.from(body);
    corrupt[corrupt.length >> 1] ^= 0xff;
    await writeFile(first.path, corrupt);
    const past = new Date(Date.now() - 60_000);
    await utimes(first.path, past, past); // a different mtime than the stamp, whatever the clock resolution
    const second = await resolveWeights({ cacheDir: cache, entry });
    assert.equal(second.downloaded, true);
    assert.equal(await md5File(second.path), entry.md5);

    await writeFile(second.path, body.subarray(0, 100));
    const third = await resolveWeights({ cacheDir: cache, entry });
    assert.equal(third.downloaded, true);
    assert.equal(await md5File(third.path), entry.md5);
    assert.equal(requests.length, 3);
  });

  test("a verified file is not hashed again while its size and mtime are unchanged", async () => {
    reset();
    const cache = freshCache();
    const first = await resolveWeights({ cacheDir: cache, entry });
    // A whole-second mtime survives utimes() exactly; re-verifying records it in the stamp.
    const when = new Date(1_700_000_000_000);
    await utimes(first.path, when, when);
    assert.equal((await resolveWeights({ cacheDir: cache, entry })).downloaded, false);
    // Same size, same mtime: the stamp vouches for it, which is what spares the 80 MB hash.
    const corrupt = Buffer.from(body);
    corrupt[10] ^= 0xff;
    await writeFile(first.path, corrupt);
    await utimes(first.path, when, when);
    assert.equal((await resolveWeights({ cacheDir: cache, entry })).downloaded, false);
    // Without the stamp the hash runs and catches it.
    await rm(`${first.path}.verified`);
    assert.equal((await resolveWeights({ cacheDir: cache, entry })).downloaded, true);
  });

  test("concurrent calls share one download", async () => {
    reset();
    const cache = freshCache();
    const [a, b] = await Promise.all([
      resolveWeights({ cacheDir: cache, entry }),
      resolveWeights({ cacheDir: cache, entry }),
    ]);
    assert.equal(requests.length, 1);
    assert.equal(a.path, b.path);
    assert.equal(await md5File(a.path), entry.md5);
  });

  test("two first runs in separate processes at once: both succeed, one whole file, no leftovers", async () => {
    reset({ chunkDelayMs: 40 });
    const cache = freshCache();
    const [a, b] = await Promise.all([resolveInChild(entry, cache), resolveInChild(entry, cache)]);
    for (const r of [a, b]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).path, cachedPath(cache));
    }
    assert.equal(requests.length, 2, "the two processes overlapped");
    assert.equal(await md5File(cachedPath(cache)), entry.md5);
    assert.deepEqual((await readdir(cache)).sort(), [entry.fileName, `${entry.fileName}.verified`]);
  });

  test("a read-only cache while online: a clear message, exit 2", async () => {
    reset();
    const cache = freshCache();
    await mkdir(cache, { recursive: true });
    await chmod(cache, 0o555);
    // Root writes anywhere: the run is made as an ordinary user then, who must reach the cache.
    await chmod(dir, 0o755);
    const r = await resolveInChild(entry, cache, process.getuid?.() === 0 ? 65534 : undefined);
    assert.equal(r.code, 2, r.stderr);
    const error = JSON.parse(r.stderr);
    assert.equal(error.code, "WEIGHTS_CACHE");
    assert.match(error.message, /Cannot use the weights cache .*: it is not writable \(EACCES\)\. .*PASTICHE_CACHE.*--weights FILE/);
    assert.deepEqual(await readdir(cache), []);
  });

  test("a file where the cache folder should be: a clear message", async () => {
    reset();
    const parent = freshCache();
    await mkdir(parent, { recursive: true });
    await writeFile(path.join(parent, "cache"), "");
    await assert.rejects(
      resolveWeights({ cacheDir: path.join(parent, "cache"), entry }),
      fails("WEIGHTS_CACHE", "a file stands where a folder should be", "PASTICHE_CACHE"),
    );
  });

  test("cancelling keeps the .part for a later resume", async () => {
    reset();
    const cache = freshCache();
    const abort = new AbortController();
    await assert.rejects(
      resolveWeights({ cacheDir: cache, entry, signal: abort.signal, onProgress: () => abort.abort() }),
      fails("CANCELLED"),
    );
    assert.ok((await stat(`${cachedPath(cache)}.part`)).size > 0);
    assert.ok(!existsSync(cachedPath(cache)));
  });

  test("wrong bytes from the server: an error and nothing left behind", async () => {
    const cache = freshCache();
    const wrong = Buffer.from(body);
    wrong[wrong.length - 1] ^= 0xff;
    reset({ body: wrong });
    await assert.rejects(
      resolveWeights({ cacheDir: cache, entry }),
      fails("WEIGHTS_DOWNLOAD", entry.url, "md5", cachedPath(cache), "--weights FILE"),
    );
    assert.ok(!existsSync(cachedPath(cache)));
    assert.ok(!existsSync(`${cachedPath(cache)}.part`));

    reset({ body: Buffer.concat([body, Buffer.alloc(10)]) });
    await assert.rejects(resolveWeights({ cacheDir: cache, entry }), fails("WEIGHTS_DOWNLOAD", "more than"));
    assert.ok(!existsSync(cachedPath(cache)));
    assert.ok(!existsSync(`${cachedPath(cache)}.part`));
  });

  test("an HTTP error status is a WEIGHTS_DOWNLOAD error", async () => {
    reset({ status: 404 });
    const cache = freshCache();
    await assert.rejects(
      resolveWeights({ cacheDir: cache, entry }),
      fails("WEIGHTS_DOWNLOAD", "HTTP 404", entry.url, cachedPath(cache), "--weights FILE"),
    );
  });

  test("offline with an empty cache: the message names the URL, the expected path and --weights", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const offline = { ...entry, url: `http://127.0.0.1:${port}/vgg19.h5` };
    const cache = freshCache();
    await assert.rejects(
      resolveWeights({ cacheDir: cache, entry: offline }),
      fails("WEIGHTS_DOWNLOAD", offline.url, cachedPath(cache), "--weights FILE", "ECONNREFUSED"),
    );
    assert.ok(!existsSync(cachedPath(cache)));
  });

  test("a local file is used as is; a foreign md5 is information, not an error", async () => {
    reset();
    const copy = path.join(dir, "mine.h5");
    await writeFile(copy, body);
    assert.deepEqual(await resolveWeights({ weights: copy, entry }), {
      path: copy, md5: entry.md5, catalogued: true, downloaded: false,
    });
    const r = await resolveWeights({ weights: copy, entry: backboneFor("vgg19").catalogue });
    assert.equal(r.catalogued, false);
    assert.equal(r.md5, entry.md5);
    assert.ok(r.note!.includes(entry.md5) && r.note!.includes(backboneFor("vgg19").catalogue.md5), r.note);
    await assert.rejects(
      resolveWeights({ weights: path.join(dir, "absent.h5"), entry }),
      fails("WEIGHTS_MISSING", path.join(dir, "absent.h5")),
    );
    await assert.rejects(resolveWeights({ weights: dir, entry }), fails("WEIGHTS_MISSING", "not a file"));
    assert.equal(requests.length, 0);
  });

  test("obtainVggWeights downloads and loads in one call", async () => {
    reset();
    const w = await backboneFor("vgg19").obtainWeights({ cacheDir: freshCache(), entry, upTo: "block2_conv2" });
    assert.deepEqual(w.source, { path: w.source.path, md5: entry.md5, catalogued: true, note: undefined });
    assert.deepEqual(w.layers.get("block2_conv2")!.kernel, smallWritten.get("block2_conv2")!.kernel);
  });
});

describe("the shared VGG19 file", () => {
  const present = existsSync(SHARED_VGG19);
  const skipped = `${SHARED_VGG19} not present`;

  test("loads as VGG19 with all 16 conv layers; not the catalogued file, said in a note", async (t) => {
    if (!present) return t.skip(skipped);
    let t0 = performance.now();
    const hash = await md5File(SHARED_VGG19);
    const md5Ms = performance.now() - t0;
    t0 = performance.now();
    const w = await backboneFor("vgg19").obtainWeights({ weights: SHARED_VGG19 });
    console.log(`# shared VGG19: md5 ${md5Ms.toFixed(0)} ms, md5 + load ${(performance.now() - t0).toFixed(0)} ms`);
    assert.deepEqual([...w.layers.keys()], vgg19Convs().map((l) => l.name));
    for (const layer of vgg19Convs()) {
      const p = w.layers.get(layer.name)!;
      assert.equal(p.kernel.length, 9 * layer.inChannels * layer.outChannels);
      assert.equal(p.bias.length, layer.outChannels);
    }
    assert.equal(w.source.md5, hash);
    assert.notEqual(hash, backboneFor("vgg19").catalogue.md5);
    assert.equal(w.source.catalogued, false);
    assert.match(w.source.note!, /not the catalogued vgg19 file/);
  });

  test("loading it as VGG16 says to use --model vgg19", async (t) => {
    if (!present) return t.skip(skipped);
    await assert.rejects(
      backboneFor("vgg16").loadWeights(SHARED_VGG19),
      fails("WEIGHTS_INVALID", SHARED_VGG19, "block3_conv4", "looks like VGG19 weights; use --model vgg19"),
    );
  });
});
