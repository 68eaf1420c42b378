/**
 * The CLI as other programs use it: --version, --progress json (one JSON object per stderr line)
 * and usage errors of sub-commands that exit 2 like the main command's.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { writeRandomVggH5 } from "./helpers/makeWeights.js";
import { assertExit, ROOT, startPastiche } from "./helpers/processes.js";

let dir: string;
let content: string;
let style: string;
let weights: string;
const pastiche = (...args: string[]) => startPastiche(args, { PASTICHE_CACHE: join(dir, "cache") }).exit;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "pastiche-scripting-"));
  const noise = (w: number, h: number, seed: number) =>
    sharp(Uint8Array.from({ length: w * h * 3 }, (_, i) => ((i + seed) * 2654435761) >>> 24), { raw: { width: w, height: h, channels: 3 } });
  content = join(dir, "content.png");
  style = join(dir, "style.png");
  await noise(48, 36, 1).png().toFile(content);
  await noise(40, 40, 2).png().toFile(style);
  weights = join(dir, "vgg16-shallow.h5");
  await writeRandomVggH5(weights, "vgg16", { seed: 5, upTo: "block2_pool" });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A 2 x 2 evaluation run at 32 px on layers the shallow weights file holds. */
const tinyRun = (output: string) => [content, style, "-o", output, "--model", "vgg16", "--weights", weights, "--content-layers", "block2_conv2", "--style-layers", "block1_conv1,block2_conv1", "--size", "32", "--scales", "1", "--iterations", "2", "--evals-per-iteration", "2"];

test("--version and -V print the package's version", async () => {
  const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
  for (const flag of ["--version", "-V"]) {
    const r = await pastiche(flag);
    assertExit(r, 0);
    assert.equal(r.stdout, `${version}\n`);
  }
});

describe("--progress json", () => {
  const PROGRESS_FIELDS = ["scale", "scales", "iteration", "iterations", "evaluation", "evaluations", "loss", "terms", "elapsedS", "etaS"];
  type Event = Record<string, unknown> & { event: string };
  const parseLines = (stderr: string): Event[] =>
    stderr
      .trimEnd()
      .split("\n")
      .map((line) => {
        const parsed = JSON.parse(line) as Event; // every line, or the test fails here
        assert.equal(typeof parsed.event, "string", line);
        return parsed;
      });

  test("a run: notice, progress per evaluation, checkpoint per iteration, done; every stderr line is JSON", async () => {
    const output = join(dir, "json.png");
    const r = await pastiche(...tinyRun(output), "--save-every", "1", "--progress", "json");
    assertExit(r, 0);
    assert.equal(r.stdout, "");
    const events = parseLines(r.stderr);
    const kinds = events.map((e) => e.event);
    assert.deepEqual([kinds[0], kinds[kinds.length - 1]], ["notice", "done"], kinds.join());
    assert.deepEqual(kinds.slice(1, -1).sort(), ["checkpoint", "checkpoint", "progress", "progress", "progress", "progress"]);

    // The random weights are not the catalogue's: the library's notice says so.
    assert.match(String(events[0].message), /not the catalogued vgg16 file/);

    const progress = events.filter((e) => e.event === "progress");
    for (const [i, p] of progress.entries()) {
      assert.deepEqual(Object.keys(p).sort(), ["event", ...PROGRESS_FIELDS].sort());
      assert.equal(p.evaluation, i + 1);
      assert.equal(p.evaluations, 4);
      assert.equal(p.iterations, 2);
      for (const f of ["loss", "elapsedS"]) assert.ok(Number.isFinite(p[f]), `${f} in ${JSON.stringify(p)}`);
      const terms = p.terms as Record<string, number>;
      assert.ok(["content", "style"].every((t) => Number.isFinite(terms[t])), JSON.stringify(terms));
    }

    const checkpoints = events.filter((e) => e.event === "checkpoint");
    for (const [i, c] of checkpoints.entries()) {
      assert.equal(c.iteration, i + 1);
      assert.deepEqual([c.width, c.height], [32, 24]);
      const evaluation = (c.progress as Record<string, unknown>).evaluation;
      assert.equal(evaluation, 2 * (i + 1));
      // After the evaluation that ended its iteration: the checkpoint is reported once written.
      assert.ok(events.indexOf(c) > events.findIndex((e) => e.event === "progress" && e.evaluation === evaluation));
      assert.equal(c.file, join(dir, `json-000${i + 1}.png`));
      const meta = await sharp(c.file as string).metadata();
      assert.deepEqual([meta.width, meta.height], [32, 24]);
    }

    const done = events[events.length - 1];
    assert.equal(done.output, output);
    assert.deepEqual([done.width, done.height, done.format, done.evaluations], [32, 24, "png", 4]);
    assert.ok(Number.isFinite(done.finalLoss) && (done.seconds as number) > 0, JSON.stringify(done));
    assert.ok(existsSync(output));
  });

  test("a failure is an error event with the code and the message, and exit 2", async () => {
    const r = await pastiche(...tinyRun(join(dir, "never.png")).map((a) => (a === content ? join(dir, "absent.png") : a)), "--progress", "json");
    assertExit(r, 2);
    const events = parseLines(r.stderr);
    assert.equal(events.length, 1);
    assert.equal(events[0].event, "error");
    assert.equal(events[0].code, "INPUT_MISSING");
    assert.match(String(events[0].message), /absent\.png.*does not exist/);
    assert.ok(!existsSync(join(dir, "never.png")));
  });

  test("not with --quiet, and only bar or json", async () => {
    const quiet = await pastiche(...tinyRun(join(dir, "q.png")), "--progress", "json", "-q");
    assertExit(quiet, 2);
    assert.match(quiet.stderr, /'--progress <format>' cannot be used with option '-q, --quiet'/);
    const xml = await pastiche(...tinyRun(join(dir, "x.png")), "--progress", "xml");
    assertExit(xml, 2);
    assert.match(xml.stderr, /Allowed choices are bar, json/);
  });

  test("without it, a pipe gets the human lines, one per iteration", async () => {
    const r = await pastiche(...tinyRun(join(dir, "human.png")));
    assertExit(r, 0);
    assert.match(r.stderr, /^iteration 1\/2: eval \d\/4, loss /m);
    assert.match(r.stderr, /^iteration 2\/2: eval \d\/4, loss /m);
    assert.match(r.stderr, /^wrote .*human\.png \(32x24\)/m);
    assert.doesNotMatch(r.stderr, /^\{/m);
  });
});

test("a sub-command's bad option exits 2, like the main command's", async () => {
  const r = await pastiche("serve", "--port", "abc");
  assertExit(r, 2);
  assert.match(r.stderr, /--port needs a number, got "abc"/);
});
