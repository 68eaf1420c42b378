import { score, YARDSTICK, type ImageScore } from "../pipeline/Score.js";

/** `pastiche score` options, as the command line gives them. */
export interface ScoreCliOptions {
  image: string[];
  styleBlend?: number[];
  weights?: string;
  threads?: number;
  json?: boolean;
}

/** Prints each image's yardstick errors: a line an image, or one JSON object an image with --json. */
export async function scoreImages(content: string, styles: string[], o: ScoreCliOptions): Promise<void> {
  const results = await score({ content, styles, images: o.image, styleBlend: o.styleBlend, weights: o.weights, threads: o.threads });
  for (const [i, s] of results.entries()) {
    process.stdout.write(o.json ? JSON.stringify({ image: o.image[i], ...s }) + "\n" : `${o.image[i]}: ${describeScore(s)}\n`);
  }
}

/** "style 0.31 (block1_conv1 0.09, ...), content 0.74" */
export function describeScore(s: ImageScore): string {
  const layers = YARDSTICK.styleLayers.map((l) => `${l} ${s.style[l].toFixed(3)}`).join(", ");
  return `style ${s.styleMean.toFixed(3)} (${layers}), content ${s.content.toFixed(3)}`;
}
