import type { FastifyRequest } from "fastify";
import sharp from "sharp";
import { PasticheError, type OptionName } from "../errors.js";
import { badOption, number as checkNumber, wholeNumber } from "../options/Check.js";
import { MIN_SIZE, OPTIONS } from "../pipeline/OptionSchema.js";
import { PRESET_NAMES, type PresetName } from "../pipeline/Presets.js";
import { ApiError, tooManyFiles } from "./ApiError.js";
import type { ServerConfig } from "./ServerConfig.js";

/** An uploaded image whose bytes were recognised as one of the accepted formats. */
export interface UploadedImage {
  bytes: Buffer;
  format: string;
  /** After EXIF orientation. */
  width: number;
  height: number;
}

/** A job request as the form sends it, checked against the server's limits. */
export interface JobForm {
  content: UploadedImage;
  styles: UploadedImage[];
  preset: PresetName;
  size: number;
  /** Multiplies the preset's style weight. */
  strength: number;
  iterations?: number;
  evalsPerIteration?: number;
}

export const MIN_STRENGTH = 0.1;
export const MAX_STRENGTH = 10;

/** The form's one field of its own: a multiplier of the preset's style weight. */
const STRENGTH: OptionName = { key: "strength", label: "style strength" };

/** What sharp may decode for us; SVG, PDF and the like are refused because they are programs or documents, not photos. */
const ACCEPTED_FORMATS = new Set(["jpeg", "png", "webp", "gif", "tiff", "avif", "heif"]);

/** The library options the form sets (named by their schema keys), and the strength. */
const FIELDS = [OPTIONS.preset.key, OPTIONS.size.key, STRENGTH.key, OPTIONS.iterations.key, OPTIONS.evalsPerIteration.key] as const;
type FieldName = (typeof FIELDS)[number];

/** A BAD_OPTION error whose message names fields the form's way. */
const bad = (message: string) => badOption(() => message);

/**
 * Reads the multipart body: one `content` file, one or more `style` files, and the setting fields.
 * Formats are judged from the bytes only; the client's file names and content types are ignored.
 */
export async function readJobForm(request: FastifyRequest, config: ServerConfig): Promise<JobForm> {
  let content: Buffer | undefined;
  const styles: Buffer[] = [];
  const fields = new Map<FieldName, string>();

  const parts = request.parts({
    limits: {
      fileSize: config.maxUploadBytes,
      // One more than allowed so that the parser, not a client's endless stream, ends an oversized form.
      files: config.maxStyles + 1,
      fields: FIELDS.length,
      fieldSize: 64,
      fieldNameSize: 64,
      parts: config.maxStyles + 1 + FIELDS.length,
    },
  });
  for await (const part of parts) {
    if (part.type === "file") {
      const bytes = await part.toBuffer();
      // A form's file input with nothing chosen still sends an empty, unnamed part.
      if (bytes.length === 0 && part.filename === "") continue;
      if (part.fieldname === "content") {
        if (content) throw bad("Send exactly one content image");
        content = bytes;
      } else if (part.fieldname === "style") {
        if (styles.length === config.maxStyles) throw tooManyFiles(config.maxStyles);
        styles.push(bytes);
      } else {
        throw bad(`Unexpected file field "${printable(part.fieldname)}": send files as "content" and "style"`);
      }
    } else {
      const name = part.fieldname as FieldName;
      if (!FIELDS.includes(name)) {
        throw bad(`Unknown field "${printable(part.fieldname)}"; the fields are: ${FIELDS.join(", ")}`);
      }
      if (fields.has(name)) throw bad(`The field "${name}" was sent twice`);
      if (part.valueTruncated) throw bad(`The field "${name}" is too long`);
      fields.set(name, String(part.value));
    }
  }

  if (!content) throw new PasticheError("INPUT_MISSING", 'No content image: send one as the file field "content"');
  if (styles.length === 0) throw new PasticheError("INPUT_MISSING", 'No style image: send at least one as the file field "style"');

  const preset = (fields.get("preset") ?? OPTIONS.preset.default) as PresetName;
  if (!PRESET_NAMES.includes(preset)) {
    throw bad(`Unknown preset "${printable(preset)}"; use one of: ${PRESET_NAMES.join(", ")}`);
  }
  const size = field(fields, OPTIONS.size, MIN_SIZE, config.maxSize, true) ?? Math.min(512, config.maxSize);
  const strength = field(fields, STRENGTH, MIN_STRENGTH, MAX_STRENGTH, false) ?? 1;
  const iterations = field(fields, OPTIONS.iterations, 1, config.maxIterations, true);
  const evalsPerIteration = field(fields, OPTIONS.evalsPerIteration, 1, config.maxEvalsPerIteration, true);

  return {
    content: await sniff(content, "The content image", config.maxPixels),
    styles: await Promise.all(styles.map((s, i) => sniff(s, `Style image ${i + 1}`, config.maxPixels))),
    preset,
    size,
    strength,
    ...(iterations !== undefined && { iterations }),
    ...(evalsPerIteration !== undefined && { evalsPerIteration }),
  };
}

/** A form number within the server's limits; undefined when the field is absent or empty. */
function field(fields: Map<FieldName, string>, option: OptionName, min: number, max: number, whole: boolean): number | undefined {
  const text = fields.get(option.key as FieldName)?.trim();
  if (text === undefined || text === "") return undefined;
  // Number() alone would take "0x10", "1e3" and "Infinity"; a form sends plain decimals.
  const value = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : printable(text);
  return whole ? wholeNumber(option, value, min, max) : checkNumber(option, value, min, max);
}

/** Reads just the header: the format from the magic bytes and the size, before anything is decoded. */
async function sniff(bytes: Buffer, label: string, maxPixels: number): Promise<UploadedImage> {
  if (bytes.length === 0) throw new PasticheError("INPUT_NOT_IMAGE", `${label} is empty (0 bytes)`);
  let meta;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw notImage(label);
  }
  if (!ACCEPTED_FORMATS.has(meta.format)) throw notImage(label);
  const { width, height } = meta.autoOrient;
  if (width * height > maxPixels) {
    throw new ApiError(
      413,
      "INPUT_TOO_LARGE",
      `${label} is ${width}x${height} pixels (${megapixels(width * height)} MP), more than this server's ` +
        `limit of ${megapixels(maxPixels)} MP: downscale it first`,
    );
  }
  return { bytes, format: meta.format, width, height };
}

function notImage(label: string): ApiError {
  return new ApiError(
    415,
    "INPUT_NOT_IMAGE",
    `${label} is not a JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF image (judged from its contents, not its name)`,
  );
}

function megapixels(pixels: number): string {
  return String(Math.round(pixels / 1e5) / 10);
}

/** Client text echoed in messages: short and without control characters. */
function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 40 ? `${clean.slice(0, 40)}...` : clean;
}
