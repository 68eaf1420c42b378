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
  | "WEIGHTS_CACHE"
  | "LOSS_NOT_FINITE"
  | "CANCELLED"
  | "QUEUE_FULL"
  | "TOO_MUCH_MEMORY";

/** An option as messages name it: its key in the library's options and its words. */
export interface OptionName {
  readonly key: string;
  readonly label: string;
}

/** How a front end names options in messages: the library by their words, the CLI adds its flags. */
export type OptionNamer = (option: OptionName) => string;

/** The library's way: the option's words ("TV power"). */
export const nameByLabel: OptionNamer = (option) => option.label;

/** A message that names options, written by whoever shows it. */
export type Phrase = (name: OptionNamer) => string;

export class PasticheError extends Error {
  readonly code: ErrorCode;
  private readonly phrase: Phrase;

  constructor(code: ErrorCode, message: string | Phrase, options?: { cause?: unknown }) {
    super(typeof message === "string" ? message : message(nameByLabel), options);
    this.name = "PasticheError";
    this.code = code;
    this.phrase = typeof message === "string" ? () => message : message;
  }

  /** The message with options named the front end's way (the CLI: by their flags). */
  describe(name: OptionNamer): string {
    return this.phrase(name);
  }
}

export function isPasticheError(e: unknown): e is PasticheError {
  return e instanceof PasticheError;
}
