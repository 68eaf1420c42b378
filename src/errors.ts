/**
 * Every failure a user can cause or fix is a PasticheError with a stable `code`.
 * The CLI maps them to exit code 2; anything else is a bug (exit 1).
 */
export type ErrorCode =
  | "BAD_OPTION"
  | "INPUT_MISSING"
  | "INPUT_NOT_FILE"
  | "INPUT_NOT_IMAGE"
  | "INPUT_CORRUPT"
  | "INPUT_TOO_LARGE"
  | "INPUT_TOO_SMALL"
  | "OUTPUT_NOT_WRITABLE"
  | "WEIGHTS_MISSING"
  | "WEIGHTS_INVALID"
  | "WEIGHTS_DOWNLOAD"
  | "LOSS_NOT_FINITE"
  | "CANCELLED"
  | "QUEUE_FULL"
  | "TOO_MUCH_MEMORY";

export class PasticheError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PasticheError";
    this.code = code;
  }
}

export function isPasticheError(e: unknown): e is PasticheError {
  return e instanceof PasticheError;
}
