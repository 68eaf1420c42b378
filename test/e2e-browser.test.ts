import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { it } from "node:test";
import { chromium } from "playwright-core";
import sharp from "sharp";
import { HAVE_WEIGHTS, NO_WEIGHTS_REASON, json, startServer } from "./helpers/serverClient.js";

const CHROMIUM = "/usr/bin/chromium";
const CONTENT = fileURLToPath(new URL("../../shared/images/content-cat.png", import.meta.url));
const STYLE = fileURLToPath(new URL("../../shared/images/style-starry-night.jpg", import.meta.url));
const SCREENSHOT = fileURLToPath(new URL("../docs/screenshot-web.png", import.meta.url));

// On CI a missing browser is a broken setup, not a reason to skip.
const skip = !HAVE_WEIGHTS
  ? NO_WEIGHTS_REASON
  : !existsSync(CHROMIUM) && !process.env.CI
    ? `${CHROMIUM} is missing (apt install chromium); browser test skipped`
    : !existsSync(CONTENT) || !existsSync(STYLE)
      ? `the shared test images are missing (${CONTENT}); browser test skipped`
      : false;

interface SeenPreview {
  src: string;
  hash: number;
}

/**
 * Fingerprints every preview the page actually shows, from its pixels rather than its URL.
 * A string because this project's TypeScript has no DOM types.
 */
const WATCH_PREVIEWS = `
  window.seenPreviews = [];
  const img = document.getElementById("preview");
  img.addEventListener("load", () => {
    if (!img.src.includes("/preview.png")) return;
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    let hash = 0;
    for (const v of ctx.getImageData(0, 0, canvas.width, canvas.height).data) hash = (hash * 31 + v) >>> 0;
    window.seenPreviews.push({ src: img.src, hash });
  });
`;

it("paints in the browser: upload, live preview, download", { skip, timeout: process.env.UPDATE_SCREENSHOT ? 900_000 : 240_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package`);
  const server = await startServer({ previewEvery: 2 });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 }, acceptDownloads: true });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(server.base);
    await page.waitForSelector("body[data-ready]");

    await page.setInputFiles("#content", CONTENT);
    await page.setInputFiles("#styles", STYLE);
    await page.waitForSelector("#content-thumbs img");
    await page.selectOption("#preset", "gatys");
    await page.fill("#size", "64");
    await page.click("details summary");
    await page.fill("#iterations", "1");
    await page.fill("#evals", "40");

    await page.evaluate(WATCH_PREVIEWS);
    await page.click("#start");
    await page.waitForSelector("#download:not([hidden])", { timeout: 180_000 });
    assert.deepEqual(pageErrors, []);
    assert.equal(await page.isVisible("#message"), false, await page.textContent("#message") ?? "");

    const seen = (await page.evaluate("window.seenPreviews")) as SeenPreview[];
    const hashes = seen.map((s) => s.hash).filter((h, i, all) => i === 0 || h !== all[i - 1]);
    assert.ok(hashes.length >= 3, `the preview should change at least twice; saw ${JSON.stringify(seen)}`);
    assert.equal(new Set(seen.map((s) => s.src)).size, seen.length, "every shown preview had its own URL");
    assert.match((await page.textContent("#state")) ?? "", /^Done: \d+×\d+/);
    assert.equal(await page.locator("#gallery li").count(), 1);

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    assert.match(download.suggestedFilename(), /^pastiche-[0-9a-f]{8}\.png$/);
    const saved = await download.path();
    const meta = await sharp(readFileSync(saved)).metadata();
    assert.equal(meta.format, "png");
    assert.equal(Math.max(meta.width, meta.height), 64);

    // The page's own list, with its cookie: the job belongs to this browser and to nobody else.
    const jobs = (await page.evaluate(`fetch("/api/jobs").then((r) => r.json())`)) as { jobs: { state: string }[] };
    assert.equal(jobs.jobs.length, 1);
    assert.equal(jobs.jobs[0].state, "done");
    assert.deepEqual((await json(fetch(`${server.base}/api/jobs`))).jobs, []);
    const cookies = await context.cookies(server.base);
    assert.ok(cookies.some((c) => c.name === "pastiche_client" && c.httpOnly && c.sameSite === "Strict"), JSON.stringify(cookies));

    // The README's screenshot is refreshed on request, so that a test run leaves the tree clean:
    // UPDATE_SCREENSHOT=1 node --import tsx --test test/e2e-browser.test.ts
    if (process.env.UPDATE_SCREENSHOT) {
      // The README shows a real result: a second job with the default preset's own settings.
      await page.selectOption("#preset", "default");
      await page.fill("#size", "384");
      await page.fill("#iterations", "");
      await page.fill("#evals", "");
      await page.click("#start");
      await page.waitForSelector("#download:not([hidden])", { timeout: 600_000 });
      await page.evaluate("window.scrollTo(0, 0)");
      // A palette PNG is a third of the size and looks the same for a page like this one.
      writeFileSync(SCREENSHOT, await sharp(await page.screenshot()).png({ palette: true }).toBuffer());
    }
  } finally {
    await browser.close();
    await server.app.close();
  }
});
