import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { access, open, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import sharp, { type Metadata, type OutputInfo, type Sharp } from "sharp";
import { PasticheError } from "../errors.js";

/** 8-bit RGB, interleaved, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type ImageFormat = "png" | "jpg" | "webp";

export interface ReadImageOptions {
  /**
   * Refuse images with more pixels than this, judged from the header before decoding. The caller's
   * checked maxInputPixels option (its default is the schema's).
   */
  maxPixels: number;
  /** How to call the image in messages, e.g. "style image 2". */
  label?: string;
}

const READABLE_FORMATS = "JPEG, PNG, WebP, AVIF, TIFF or GIF";

/**
 * Decodes any format sharp reads into 8-bit sRGB: EXIF orientation applied, alpha flattened onto
 * white, grey and 16-bit promoted/reduced. Only the first frame of animations and multi-page files.
 */
export async function readImage(
  input: string | Buffer,
  options: ReadImageOptions,
): Promise<RgbImage & { notes: string[] }> {
  const { maxPixels } = options;
  const name = describeImage(input, options.label);
  if (typeof input === "string") {
    await checkInputFile(input, name);
  } else if (input.length === 0) {
    throw new PasticheError("INPUT_NOT_IMAGE", `${name} is empty (0 bytes): send the image file's contents`);
  }

  // Header only: sharp's own pixel limit is off here so that our message (with the option) wins.
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw decodeError(name, e);
  }
  const pixels = meta.width * meta.height;
  if (pixels > maxPixels) {
    throw new PasticheError(
      "INPUT_TOO_LARGE",
      `${name} is ${meta.width}x${meta.height} (${megapixels(pixels)} megapixels), more than the limit of ` +
        `${megapixels(maxPixels)} megapixels: downscale it, or raise the limit with --max-input-pixels ` +
        `(maxInputPixels in the API) if you trust the file`,
    );
  }

  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // failOn "error" rejects truncated and broken pixel data yet tolerates the harmless warnings
    // many camera JPEGs trigger; the pixel limit repeats our check in case the header lied.
    decoded = await sharp(input, { failOn: "error", limitInputPixels: maxPixels, autoOrient: true })
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw decodeError(name, e);
  }

  const notes: string[] = [];
  if ((meta.pages ?? 1) > 1) {
    notes.push(`${name} has ${meta.pages} frames or pages: only the first one is used`);
  }
  const { data, info } = decoded;
  return { width: info.width, height: info.height, data: asUint8(data), notes };
}

/** How messages name an image: its label and, for files, the path. */
export function describeImage(input: string | Buffer, label: string | undefined): string {
  const what = typeof input === "string" ? `"${input}"` : "the image data";
  return label ? `${label} (${what})` : what;
}

async function checkInputFile(path: string, name: string): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    const code = errnoCode(e);
    const why =
      code === "ENOENT" || code === "ENOTDIR"
        ? `does not exist: check the path (relative paths start from ${process.cwd()})`
        : `cannot be opened (${code ?? String(e)}): check the path and its permissions`;
    throw new PasticheError("INPUT_MISSING", `${name} ${why}`, { cause: e });
  }
  if (info.isDirectory()) {
    throw new PasticheError("INPUT_NOT_FILE", `${name} is a folder, not an image: give the path of an image file`);
  }
  if (!info.isFile()) {
    throw new PasticheError("INPUT_NOT_FILE", `${name} is not a regular file: give the path of an image file`);
  }
  if (info.size === 0) {
    throw new PasticheError("INPUT_NOT_IMAGE", `${name} is empty (0 bytes): re-export or re-download the image`);
  }
}

function decodeError(name: string, e: unknown): PasticheError {
  const detail = e instanceof Error ? e.message.split("\n")[0] : String(e);
  if (/unsupported image format/i.test(detail)) {
    return new PasticheError(
      "INPUT_NOT_IMAGE",
      `${name} is not an image in a format this program reads: use ${READABLE_FORMATS}`,
      { cause: e },
    );
  }
  if (/pixel limit/i.test(detail)) {
    return new PasticheError(
      "INPUT_TOO_LARGE",
      `${name} has more pixels than allowed: downscale it, or raise the limit with --max-input-pixels`,
      { cause: e },
    );
  }
  return new PasticheError(
    "INPUT_CORRUPT",
    `${name} is truncated or corrupt (${detail}): re-export or re-download the image`,
    { cause: e },
  );
}

function megapixels(pixels: number): string {
  return String(Math.round(pixels / 1e5) / 10);
}

/** Sharp hands out Buffers; callers get a plain view of the same memory. */
function asUint8(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

function rawInput(img: RgbImage): Sharp {
  // Our own pixels are trusted: the input pixel limit only guards against hostile files.
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false });
}

function checkSize(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new PasticheError("BAD_OPTION", `${what} must be a whole number of pixels >= 1, got ${value}`);
  }
}

/**
 * Scales to exactly width x height, distorting if the aspect ratio differs. "nearest" is for label
 * pictures such as masks, where blending neighbours would invent colours.
 */
export async function resizeTo(
  img: RgbImage,
  width: number,
  height: number,
  kernel: "lanczos3" | "nearest" = "lanczos3",
): Promise<RgbImage> {
  checkSize(width, "The width");
  checkSize(height, "The height");
  if (width === img.width && height === img.height) return img;
  const { data, info } = await rawInput(img)
    .resize(width, height, { fit: "fill", kernel })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: asUint8(data) };
}

export async function encodeImage(img: RgbImage, format: ImageFormat): Promise<Buffer> {
  const pipeline = rawInput(img);
  switch (format) {
    case "png":
      return pipeline.png().toBuffer();
    case "jpg":
      // 4:4:4 because chroma subsampling smears the fine colour texture style transfer produces.
      return pipeline.jpeg({ quality: 92, chromaSubsampling: "4:4:4" }).toBuffer();
    case "webp":
      return pipeline.webp({ quality: 92 }).toBuffer();
  }
}

const EXTENSIONS: Record<string, ImageFormat> = { ".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp" };

/** The output format chosen by the file extension (case-insensitive). */
export function formatFromPath(path: string): ImageFormat {
  const format = EXTENSIONS[extname(path).toLowerCase()];
  if (!format) {
    throw new PasticheError(
      "BAD_OPTION",
      `Cannot write "${path}": the output file name must end in ${Object.keys(EXTENSIONS).join(", ")}`,
    );
  }
  return format;
}

/**
 * Fails fast, before a long run, on everything writeImageAtomic would later trip over:
 * extension, folder existence, folder writability, a folder in the way. Creates nothing.
 */
export async function checkOutputPath(path: string): Promise<ImageFormat> {
  const format = formatFromPath(path);
  await checkWritablePath(path);
  return format;
}

/** The folder exists and is writable, and no folder stands at `path` itself; for any output file. */
export async function checkWritablePath(path: string): Promise<void> {
  const folder = dirname(resolve(path));
  try {
    const info = await stat(folder);
    if (!info.isDirectory()) throw outputError(path, "ENOTDIR");
    await access(folder, fsConstants.W_OK);
  } catch (e) {
    throw e instanceof PasticheError ? e : outputError(path, errnoCode(e), e);
  }
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory()) throw outputError(path, "EISDIR");
}

/**
 * Writes to a temporary file in the destination folder, then renames it over `path`: the rename is
 * atomic on one file system, so a reader (or a crash) sees either the old file or the whole new one.
 */
export async function writeImageAtomic(path: string, img: RgbImage): Promise<void> {
  await writeFileAtomic(path, await encodeImage(img, formatFromPath(path)));
}

/** Bytes written with the same temporary-file-and-rename guarantee as writeImageAtomic. */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const target = resolve(path);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const handle = await open(temp, "wx");
    try {
      await handle.writeFile(bytes);
      // Flush before the rename so a power loss cannot leave a renamed but empty file.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (e) {
    // Best effort: when the folder itself is the problem the cleanup fails too, and the first error is the one to report.
    await rm(temp, { force: true }).catch(() => undefined);
    throw outputError(path, errnoCode(e), e);
  }
}

function outputError(path: string, code: string | undefined, cause?: unknown): PasticheError {
  const folder = dirname(resolve(path));
  let why: string;
  switch (code) {
    case "ENOENT":
      why = `the folder "${folder}" does not exist: create it first or choose another output path`;
      break;
    case "ENOTDIR":
      why = `"${folder}" is not a folder: choose an output path inside an existing folder`;
      break;
    case "EACCES":
    case "EPERM":
    case "EROFS":
      why = `the folder "${folder}" is not writable: fix its permissions or choose another folder`;
      break;
    case "EISDIR":
      why = `a folder is in the way: choose an output file name, not a folder`;
      break;
    case "ENOSPC":
    case "EDQUOT":
      why = `the disk holding "${folder}" is full: free some space or choose another folder`;
      break;
    default:
      why = `${cause instanceof Error ? cause.message : String(cause)}: check the folder "${folder}"`;
  }
  return new PasticheError("OUTPUT_NOT_WRITABLE", `Cannot write "${path}": ${why}`, { cause });
}

function errnoCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
