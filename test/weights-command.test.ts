/**
 * `pastiche weights [list|fetch|verify|path]`: the real CLI on the real catalogue for what needs no
 * network, and the command's runner on a 127.0.0.1 server (as test/weights.test.ts does for the
 * store) for downloads, since no test can serve the catalogue's own bytes.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runWeights, type WeightsContext } from "../src/cli/weights.js";
import { backboneFor, type ModelName } from "../src/backbone/Backbone.js";
import type { CatalogueEntry } from "../src/weights/WeightStore.js";
import { md5File } from "../src/weights/WeightStore.js";
import { rejectsWith } from "./helpers/assertions.js";
import { writeRandomVggH5 } from "./helpers/makeWeights.js";
import { assertExit, startPastiche } from "./helpers/processes.js";

let dir: string;
let cacheCount = 0;
const freshCache = () => join(dir, `cache-${++cacheCount}`);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "pastiche-weights-cmd-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the real CLI on the real catalogue", () => {
  const weights = (cache: string, ...args: string[]) => startPastiche(["weights", ...args], { PASTICHE_CACHE: cache }).exit;
  const file16 = (cache: string) => join(cache, backboneFor("vgg16").catalogue.fileName);
  const file19 = (cache: string) => join(cache, backboneFor("vgg19").catalogue.fileName);

  test("path prints the cache file of the model asked for, else the default preset's", async () => {
    const cache = freshCache();
    const r16 = await weights(cache, "path", "--model", "vgg16");
    assertExit(r16, 0);
    assert.equal(r16.stdout, `${file16(cache)}\n`);
    const r = await weights(cache, "path");
    assertExit(r, 0);
    assert.equal(r.stdout, `${file19(cache)}\n`);
    assert.ok(!existsSync(cache), "path must not create anything");
  });

  test("list on an empty cache: the folder, each model not downloaded, the command that gets it", async () => {
    const cache = freshCache();
    const r = await weights(cache); // list is the default action
    assertExit(r, 0);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines[0], `weights cache: ${cache}`);
    assert.match(lines[1], /^vgg16: not downloaded \(58\.9 MB\); `pastiche weights fetch --model vgg16` puts it at /);
    assert.ok(lines[1].endsWith(file16(cache)), lines[1]);
    assert.match(lines[2], /^vgg19: not downloaded \(80\.1 MB\)/);
    assert.equal(lines.length, 3);
  });

  test("verify on an empty cache: exit 2, what is missing and the fix", async () => {
    const r = await weights(freshCache(), "verify", "--model", "vgg16");
    assertExit(r, 2);
    assert.match(r.stderr, /vgg16: .*vgg16_weights_tf_dim_ordering_tf_kernels_notop\.h5 is not downloaded\. Run `pastiche weights fetch --model vgg16`/);
  });

  test("a wrong file and a partial download: list says so, verify fails naming size and md5", async () => {
    const cache = freshCache();
    await mkdir(cache);
    // The right size but not the right bytes, and the start of an interrupted VGG19 download.
    await writeFile(file16(cache), Buffer.alloc(backboneFor("vgg16").catalogue.size, 1));
    await writeFile(`${file19(cache)}.part`, Buffer.alloc(1_500_000));
    const listed = await weights(cache, "list");
    assertExit(listed, 0);
    assert.match(listed.stdout, /vgg16: .* \(58\.9 MB, not verified yet: `pastiche weights verify --model vgg16` checks its md5\)/);
    assert.match(listed.stdout, /vgg19: partly downloaded \(1\.5 MB of 80\.1 MB\) in .*\.part; `pastiche weights fetch --model vgg19` resumes it/);

    const verified = await weights(cache, "verify");
    assertExit(verified, 2);
    const md5 = createHash("md5").update(Buffer.alloc(backboneFor("vgg16").catalogue.size, 1)).digest("hex");
    assert.ok(verified.stderr.includes(`has md5 ${md5} instead of ${backboneFor("vgg16").catalogue.md5}`), verified.stderr);
    assert.ok(verified.stderr.includes("vgg19: ") && verified.stderr.includes("is not downloaded"), verified.stderr);
    assert.ok(verified.stderr.includes("Run `pastiche weights fetch`: it downloads what is missing and replaces a wrong file"), verified.stderr);
    // Unlike a run, verify deletes nothing.
    assert.ok(existsSync(file16(cache)));

    await writeFile(file16(cache), "short");
    const short = await weights(cache, "list", "--model", "vgg16");
    assert.match(short.stdout, /vgg16: .* has 5 bytes instead of 58889256; `pastiche weights fetch --model vgg16` replaces it/);
  });

  test("a bad action or model: exit 2 with the choices", async () => {
    const bad = await weights(freshCache(), "download");
    assertExit(bad, 2);
    assert.match(bad.stderr, /Allowed choices are list, fetch, verify, path/);
    const model = await weights(freshCache(), "path", "--model", "vgg99");
    assertExit(model, 2);
    assert.match(model.stderr, /Allowed choices are vgg16, vgg19/);
  });
});

describe("fetch and verify against a 127.0.0.1 server", () => {
  let server: http.Server;
  let files: Record<ModelName, Buffer>;
  let catalogue: Record<ModelName, CatalogueEntry>;
  let status = 200;
  let requests = 0;

  before(async () => {
    const paths = { vgg16: join(dir, "served16.h5"), vgg19: join(dir, "served19.h5") };
    await writeRandomVggH5(paths.vgg16, "vgg16", { seed: 1, upTo: "block1_pool" });
    await writeRandomVggH5(paths.vgg19, "vgg19", { seed: 2, upTo: "block1_pool" });
    files = { vgg16: await readFile(paths.vgg16), vgg19: await readFile(paths.vgg19) };
    server = http.createServer((req, res) => {
      requests++;
      const model = req.url?.slice(1) as ModelName;
      if (status !== 200 || !files[model]) {
        res.writeHead(status === 200 ? 404 : status).end();
        return;
      }
      res.writeHead(200, { "content-length": files[model].length }).end(files[model]);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const entry = (model: ModelName): CatalogueEntry => ({
      model,
      url: `${base}/${model}`,
      fileName: `test_${model}.h5`,
      size: files[model].length,
      md5: createHash("md5").update(files[model]).digest("hex"),
    });
    catalogue = { vgg16: entry("vgg16"), vgg19: entry("vgg19") };
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function context(cacheDir: string): WeightsContext & { lines: string[] } {
    const lines: string[] = [];
    return { catalogue, cacheDir, print: (line) => lines.push(line), lines };
  }

  test("fetch downloads every model once; list and verify then vouch for them", async () => {
    const ctx = context(freshCache());
    requests = 0;
    await runWeights("fetch", undefined, ctx);
    assert.equal(requests, 2);
    for (const model of ["vgg16", "vgg19"] as const) {
      const file = join(ctx.cacheDir, catalogue[model].fileName);
      assert.equal(await md5File(file), catalogue[model].md5);
      assert.ok(ctx.lines.includes(`${model}: downloaded ${file} (md5 ${catalogue[model].md5} verified)`), ctx.lines.join("\n"));
    }

    ctx.lines.length = 0;
    await runWeights("fetch", "vgg19", ctx);
    assert.equal(requests, 2, "a cached file is not downloaded again");
    assert.match(ctx.lines[0], /^vgg19: already cached /);

    ctx.lines.length = 0;
    await runWeights("list", undefined, ctx);
    assert.match(ctx.lines[1], /^vgg16: .*test_vgg16\.h5 \(\d+\.\d MB, md5 verified\)$/);
    assert.match(ctx.lines[2], /^vgg19: .*test_vgg19\.h5 \(\d+\.\d MB, md5 verified\)$/);

    ctx.lines.length = 0;
    await runWeights("verify", "vgg16", ctx);
    assert.deepEqual(ctx.lines, [`vgg16: ${join(ctx.cacheDir, "test_vgg16.h5")} (md5 ${catalogue.vgg16.md5} verified)`]);
  });

  test("verify catches a file spoiled after its download, which fetch then replaces", async () => {
    const ctx = context(freshCache());
    await runWeights("fetch", "vgg16", ctx);
    const file = join(ctx.cacheDir, "test_vgg16.h5");
    const spoiled = Buffer.from(files.vgg16);
    spoiled[100] ^= 0xff;
    await writeFile(file, spoiled);
    await rejectsWith(runWeights("verify", "vgg16", ctx), "WEIGHTS_INVALID", `${file} has md5 `, `instead of ${catalogue.vgg16.md5}`, "pastiche weights fetch --model vgg16");
    ctx.lines.length = 0;
    await runWeights("fetch", "vgg16", ctx);
    assert.match(ctx.lines[0], /^vgg16: downloaded /);
    assert.equal(await md5File(file), catalogue.vgg16.md5);
  });

  test("a failed download says what a run's automatic download says", async () => {
    status = 503;
    try {
      const ctx = context(freshCache());
      await rejectsWith(runWeights("fetch", "vgg19", ctx), "WEIGHTS_DOWNLOAD", `Could not download the vgg19 weights from ${catalogue.vgg19.url} (HTTP 503`, "--weights FILE");
    } finally {
      status = 200;
    }
  });
});
