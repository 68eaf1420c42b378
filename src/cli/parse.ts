import { InvalidArgumentError } from "commander";
import type { LayerWeight } from "../objective/ObjectiveSpec.js";

/** A finite number; range checks live in resolveSettings so the API gets them too. */
export function parseNumber(option: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${option} needs a number, got "${value}"`);
    return n;
  };
}

/** "block1_conv1:0.5,block2_conv1" -> layers with weights (1 when not given). */
export function parseLayers(option: string): (value: string) => LayerWeight[] {
  return (value) =>
    value.split(",").map((item) => {
      const [layer, weight, extra] = item.trim().split(":");
      const w = weight === undefined ? 1 : Number(weight);
      if (!layer || extra !== undefined || weight === "" || !Number.isFinite(w)) {
        throw new InvalidArgumentError(`${option}: "${item}" is not layer or layer:weight (e.g. block1_conv1:0.5)`);
      }
      return { layer, weight: w };
    });
}

export function parseBlend(value: string): number[] {
  return value.split(",").map((item) => {
    const w = Number(item);
    if (item.trim() === "" || !Number.isFinite(w)) throw new InvalidArgumentError(`--style-blend: "${item}" is not a number (e.g. 0.7,0.3)`);
    return w;
  });
}

export function parseScales(value: string): "auto" | number {
  if (value === "auto") return "auto";
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`--scales needs "auto" or a whole number, got "${value}"`);
  return n;
}
