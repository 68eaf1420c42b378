/**
 * The default objective on the real VGG19 weights for benches that time or compare sessions
 * directly: dog as the content, The Scream as the style, both at width x height, and a start point
 * halfway between the painting and black.
 */
import { TargetExtractor } from "../src/engine/TargetExtractor.js";
import { prepareTargets } from "../src/objective/LossTerms.js";
import type { ObjectiveSpec, ObjectiveTargets } from "../src/objective/ObjectiveSpec.js";
import { backboneFor, type BackboneWeights } from "../src/backbone/Backbone.js";
import { imageToCaffe } from "../src/backbone/CaffeTensor.js";
import { readImage, resizeTo } from "../src/image/ImageIO.js";
import { resolveSettings } from "../src/pipeline/Settings.js";
import type { PresetName } from "../src/pipeline/types.js";

const shared = (p: string) => new URL(`../../shared/${p}`, import.meta.url).pathname;

export interface RealObjective {
  spec: ObjectiveSpec;
  weights: BackboneWeights;
  targets: ObjectiveTargets;
  x: Float64Array;
}

export async function realObjective(width: number, height: number, preset: PresetName = "default"): Promise<RealObjective> {
  const settings = resolveSettings({ content: "x", styles: ["y"], preset });
  const spec: ObjectiveSpec = { ...settings, height, width, pixelRatio: 1, styleRegions: 0 };
  const weights = await backboneFor("vgg19").obtainWeights({ weights: shared("weights/vgg19_notop_8bit.h5"), upTo: "block5_conv1" });
  const read = async (file: string) => resizeTo(await readImage(shared(`images/${file}`), { maxPixels: 1e8, label: file }), width, height);
  const painting = await read("style-scream.jpg");
  const extractor = await TargetExtractor.create(spec, weights, spec);
  try {
    const content = await extractor.extract(imageToCaffe(await read("content-dog.jpg")));
    const style = await extractor.extract(imageToCaffe(painting));
    const targets = prepareTargets(spec, { content, styles: [{ features: style, size: spec, blend: 1 }] });
    const x = imageToCaffe(painting, new Float64Array(3 * width * height)).map((v) => v * 0.5);
    return { spec, weights, targets, x };
  } finally {
    await extractor.release();
  }
}
