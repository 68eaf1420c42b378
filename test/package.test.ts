/**
 * The package as a user gets it: `npm pack` (which builds it), then an install of the tarball into
 * an empty project, offline from the npm cache and with no install script run, and there the
 * installed CLI, the web app and the library's types.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { writeRandomVggH5 } from "./helpers/makeWeights.js";
import { writeOfflineProject } from "./helpers/offlineInstall.js";
import { assertExit, ROOT, servedUrl, startProcess, type Exit } from "./helpers/processes.js";

let dir: string;
let project: string;
let packed: string[];
let version: string;

/**
 * A user's shell: without the npm_* variables `npm test` hands down (where the cache is aside), npm
 * and npx offline, and a cache of weights of the test's own.
 */
function env(): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || /^npm_config_(cache|userconfig|globalconfig)$/i.test(key));
  return { ...Object.fromEntries(inherited), npm_config_offline: "true", PASTICHE_CACHE: join(dir, "cache") };
}
const inProject = (command: string, ...args: string[]): Promise<Exit> => startProcess(command, args, { cwd: project, env: env() }).exit;
const npx = (...args: string[]) => inProject("npx", ...args);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "pastiche-package-"));
  project = join(dir, "project");
  ({ version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string });

  const pack = await startProcess("npm", ["pack", "--json", "--pack-destination", dir], { env: env() }).exit;
  assertExit(pack, 0);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  packed = info.files.map((f) => f.path);

  await mkdir(project);
  await writeOfflineProject(project, ROOT, join(dir, info.filename), ["typescript", "@types/node"]);
  const install = await inProject("npm", "ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund");
  assert.equal(install.code, 0, `npm ci --offline failed; is every package in the npm cache (run npm ci in the repository)?\n${install.stderr}`);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("the tarball holds the build, the web page, README and licence, and no sources, tests or configs", () => {
  for (const file of ["package.json", "README.md", "LICENSE", "bin/pastiche.js", "dist/index.js", "dist/index.d.ts", "dist/cli/bin.js", "dist/server/static/index.html", "dist/server/static/app.js", "dist/server/static/style.css"]) {
    assert.ok(packed.includes(file), `the tarball lacks ${file}`);
  }
  const extra = packed.filter((f) => /^(src|test|bench|docs|\.ci)\/|tsconfig|\.map$|^\.npmrc$|package-lock/.test(f));
  assert.deepEqual(extra, []);
});

test("npx pastiche --version and --help", async () => {
  const v = await npx("pastiche", "--version");
  assertExit(v, 0);
  assert.equal(v.stdout, `${version}\n`);
  const help = await npx("pastiche", "--help");
  assertExit(help, 0);
  assert.match(help.stdout, /Usage: pastiche /);
  assert.match(help.stdout, /weights \[options\] \[action\]/);
});

test("a tiny stylisation with --weights: sharp and ONNX Runtime work without their install scripts", async () => {
  const noise = (w: number, h: number, seed: number) =>
    sharp(Uint8Array.from({ length: w * h * 3 }, (_, i) => ((i + seed) * 2654435761) >>> 24), { raw: { width: w, height: h, channels: 3 } });
  await noise(48, 36, 1).png().toFile(join(project, "content.png"));
  await noise(40, 40, 2).png().toFile(join(project, "style.png"));
  await writeRandomVggH5(join(project, "vgg16.h5"), "vgg16", { seed: 4, upTo: "block2_pool" });
  const r = await npx("pastiche", "content.png", "style.png", "-o", "out.png", "--model", "vgg16", "--weights", "vgg16.h5", "--content-layers", "block2_conv2", "--style-layers", "block1_conv1,block2_conv1", "--size", "32", "--scales", "1", "--iterations", "1", "--evals-per-iteration", "2");
  assertExit(r, 0);
  const meta = await sharp(join(project, "out.png")).metadata();
  assert.deepEqual([meta.width, meta.height, meta.format], [32, 24, "png"]);
});

test("pastiche serve answers with its page from the installed package", async () => {
  const served = startProcess(join(project, "node_modules/.bin/pastiche"), ["serve", "--port", "0"], { cwd: project, env: env() });
  const url = await servedUrl(served);
  for (const [path, type] of [["", "text/html"], ["app.js", "text/javascript"], ["style.css", "text/css"]]) {
    const res = await fetch(new URL(path, url));
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-type") ?? "", new RegExp(type));
  }
  served.child.kill("SIGTERM");
  assertExit(await served.exit, 0);
});

test("the library: imported by name, and a TypeScript file type-checks against the shipped .d.ts", async () => {
  const run = await inProject(process.execPath, "--input-type=module", "-e", 'import { stylize, PRESET_NAMES } from "pastiche"; console.log(typeof stylize, PRESET_NAMES.join())');
  assertExit(run, 0);
  assert.match(run.stdout, /^function .*default/);

  await writeFile(
    join(project, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true, types: ["node"] }, files: ["use.ts"] }),
  );
  await writeFile(
    join(project, "use.ts"),
    [
      'import { stylize, PasticheError, type StylizeOptions, type StylizeResult } from "pastiche";',
      'const options: StylizeOptions = { content: "photo.jpg", styles: ["starry.jpg"], preset: "default", size: 256 };',
      "const job = stylize(options);",
      "job.on(\"progress\", (p) => { const done: number = p.evaluation / p.evaluations; void done; });",
      "job.result.then((r: StylizeResult) => r.width, (e: unknown) => (e instanceof PasticheError ? e.code : undefined));",
      "// @ts-expect-error: the types know the option names (fails if they resolved to any)",
      'stylize({ content: "photo.jpg", styles: [], sise: 256 });',
      "",
    ].join("\n"),
  );
  const tsc = await npx("tsc", "-p", ".");
  assert.equal(tsc.code, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);
});
