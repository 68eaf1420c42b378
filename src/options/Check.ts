import { PasticheError, type OptionName, type Phrase } from "../errors.js";

/**
 * The one vocabulary for checking option values (library options, server settings, CLI-only and
 * form fields). Each check returns the value as its type or throws BAD_OPTION naming the option,
 * so every front end shows the option its own way (PasticheError.describe).
 */

export const badOption = (phrase: Phrase) => new PasticheError("BAD_OPTION", phrase);

const range = (min: number, max: number) => (max === Infinity ? `>= ${min}` : `from ${min} to ${max}`);

export function oneOf<T extends string>(option: OptionName, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw badOption((name) => `unknown ${name(option)} "${value}"; use one of: ${allowed.join(", ")}`);
  return value as T;
}

export function wholeNumber(option: OptionName, value: unknown, min: number, max = Infinity): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw badOption((name) => `${name(option)} must be a whole number ${range(min, max)}, got ${value}`);
  }
  return value as number;
}

export function number(option: OptionName, value: unknown, min: number, max = Infinity): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw badOption((name) => `${name(option)} must be a number ${range(min, max)}, got ${value}`);
  }
  return value;
}

export function positiveNumber(option: OptionName, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw badOption((name) => `${name(option)} must be a number > 0, got ${value}`);
  return value;
}

export function boolean(option: OptionName, value: unknown): boolean {
  if (typeof value !== "boolean") throw badOption((name) => `${name(option)} must be true or false, got ${value}`);
  return value;
}

export function text(option: OptionName, value: unknown): string {
  if (typeof value !== "string" || value.trim() === "") throw badOption((name) => `${name(option)} must be a non-empty text, got ${JSON.stringify(value)}`);
  return value;
}

/** A file path or encoded bytes. */
export function fileOrBytes(option: OptionName, value: unknown): string | Buffer {
  if (Buffer.isBuffer(value)) return value;
  return text(option, value);
}

/** Relative weights: numbers >= 0 with a positive sum. */
export function weights(option: OptionName, value: unknown): number[] {
  const list = Array.isArray(value) ? (value as unknown[]) : [];
  const valid = list.length > 0 && list.every((w) => typeof w === "number" && Number.isFinite(w) && w >= 0);
  if (!valid || (list as number[]).reduce((a, b) => a + b, 0) <= 0) {
    throw badOption((name) => `${name(option)} weights must be numbers >= 0 with a positive sum, got ${Array.isArray(value) ? value.join(",") : value}`);
  }
  return list as number[];
}
