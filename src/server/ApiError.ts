import { isPasticheError, type ErrorCode, type OptionNamer } from "../errors.js";
import { formatBytes } from "../util/Bytes.js";

/** The server's clients set options through form fields named by the options' keys; messages name those. */
export const nameByField: OptionNamer = (option) => `"${option.key}"`;

/** The codes a client can see: the library's plus the ones only HTTP has. */
export type ApiErrorCode = ErrorCode | "NOT_FOUND" | "NOT_READY" | "BAD_REQUEST" | "UNAUTHORIZED" | "FORBIDDEN" | "INTERNAL" | "QUEUE_UNAVAILABLE";

/** Every failed request answers `{ error: { code, message } }` with this status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  toJSON(): { error: { code: ApiErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_OPTION: 400,
  INPUT_MISSING: 400,
  INPUT_NOT_FILE: 400,
  INPUT_NOT_IMAGE: 415,
  INPUT_CORRUPT: 422,
  INPUT_TOO_LARGE: 413,
  INPUT_TOO_SMALL: 422,
  TOO_MUCH_MEMORY: 422,
  QUEUE_FULL: 503,
};

/**
 * Maps whatever a handler threw to what the client gets. Library errors keep their code;
 * Fastify's and the multipart parser's errors carry a statusCode and get a plain message;
 * anything else is a bug, reported without internals.
 */
export function toApiError(e: unknown, limits: { maxUploadBytes: number; maxStyles: number }): ApiError {
  if (e instanceof ApiError) return e;
  if (isPasticheError(e)) return new ApiError(STATUS_BY_CODE[e.code] ?? 500, e.code, e.describe(nameByField));

  const fastifyCode = (e as { code?: unknown } | null)?.code;
  const status = (e as { statusCode?: unknown } | null)?.statusCode;
  switch (fastifyCode) {
    case "FST_REQ_FILE_TOO_LARGE":
      return new ApiError(
        413,
        "INPUT_TOO_LARGE",
        `An uploaded file is larger than the limit of ${formatBytes(limits.maxUploadBytes)} per file: ` +
          `downscale or recompress it`,
      );
    case "FST_FILES_LIMIT":
      return tooManyFiles(limits.maxStyles);
    case "FST_PARTS_LIMIT":
    case "FST_FIELDS_LIMIT":
      return new ApiError(413, "BAD_REQUEST", "The form has more fields than a job takes");
    case "FST_INVALID_MULTIPART_CONTENT_TYPE":
      return new ApiError(
        415,
        "BAD_REQUEST",
        "Send the job as multipart/form-data with a content image, style images and settings",
      );
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ApiError(413, "INPUT_TOO_LARGE", "The request body is too large");
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new ApiError(414, "BAD_REQUEST", "A part of the address is too long: job ids have 32 characters");
    case "FST_ERR_BAD_URL":
      return new ApiError(400, "BAD_REQUEST", "The address is not a valid URL");
  }
  if (typeof status === "number" && status >= 400 && status < 500) {
    const message = e instanceof Error ? e.message : String(e);
    return new ApiError(status, status === 404 ? "NOT_FOUND" : "BAD_REQUEST", message);
  }
  return new ApiError(500, "INTERNAL", "Internal server error: see the server's log");
}

export function tooManyFiles(maxStyles: number): ApiError {
  return new ApiError(
    400,
    "BAD_OPTION",
    `Too many images: a job takes one content image and at most ${maxStyles} style images`,
  );
}
