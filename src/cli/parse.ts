import { InvalidArgumentError } from "commander";
import { parseNumberText } from "../pipeline/OptionSchema.js";

/** Commander's parser for `flag` from a kind's text parser; range checks are the options' own (options/Check). */
export function parseWith<T>(flag: string, parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (e) {
      throw new InvalidArgumentError(`${flag} ${(e as Error).message}`);
    }
  };
}

/** A finite number, for flags outside the option schema (serve's, --save-every). */
export const parseNumber = (flag: string) => parseWith(flag, parseNumberText);
