import { backboneFor, type BackboneWeights } from "../backbone/Backbone.js";
import { buildTargetGraph, IMAGE_INPUT, ownedInput } from "../objective/ObjectiveGraph.js";
import type { ObjectiveOptions } from "../objective/ObjectiveSpec.js";
import { addWindow, cropWindow, ownershipMask, type TilePlan } from "../objective/Tiles.js";
import type { Features, ImageSize } from "../objective/terms/LossTerm.js";
import type { Engine, EngineSession, EngineSettings, Tensor } from "./Engine.js";
import { onnxRuntimeCpu } from "./OnnxRuntimeCpu.js";

type FeatureShapes = ReadonlyMap<string, { readonly dims: readonly number[]; readonly layer?: string }>;

/**
 * Forward-only session computing the features the objective's terms need from target images of one
 * size; with a tile plan, window by window, each adding its share.
 */
export class TargetExtractor {
  private constructor(
    private readonly options: ObjectiveOptions,
    private readonly session: EngineSession,
    private readonly features: FeatureShapes,
    /** Layers whose ownership maps a window's graph reads. */
    private readonly owned: readonly string[],
    private readonly size: ImageSize,
    private readonly plan: TilePlan | undefined,
  ) {}

  static async create(
    options: ObjectiveOptions,
    weights: BackboneWeights,
    size: ImageSize,
    settings: EngineSettings = {},
    engine: Engine = onnxRuntimeCpu,
    plan?: TilePlan,
  ): Promise<TargetExtractor> {
    const graph = buildTargetGraph(options, weights, size, engine.nativeOps, plan?.window);
    const session = await engine.createSession(graph.bytes, settings);
    return new TargetExtractor(options, session, graph.features, graph.owned, { width: size.width, height: size.height }, plan);
  }

  /** `image`: Caffe-space NCHW [1,3,h,w] of the extractor's size. */
  async extract(image: Float32Array): Promise<Features> {
    if (!this.plan) {
      const out = await this.session.run({ [IMAGE_INPUT]: { data: image, dims: [1, 3, this.size.height, this.size.width] } });
      return new Map([...this.features.keys()].map((name) => [name, out[name] as Float32Array]));
    }
    const plan = this.plan;
    const whole = new Map<string, Float32Array>();
    for (const [name, { dims, layer }] of this.features) {
      const at = layer === undefined ? undefined : backboneFor(this.options.model).featureSize(this.size, layer);
      whole.set(name, new Float32Array(at ? dims[1] * at.width * at.height : dims.reduce((a, b) => a * b, 1)));
    }
    for (const tile of plan.tiles) {
      const feeds: Record<string, Tensor> = {
        [IMAGE_INPUT]: { data: cropWindow(plan, tile, undefined, image, 3), dims: [1, 3, plan.window.height, plan.window.width] },
      };
      for (const layer of this.owned) {
        const { width, height } = backboneFor(this.options.model).featureSize(plan.window, layer);
        feeds[ownedInput(layer)] = { data: ownershipMask(plan, tile, layer), dims: [1, 1, height, width] };
      }
      const out = await this.session.run(feeds);
      for (const [name, { dims, layer }] of this.features) {
        const sum = whole.get(name)!;
        if (layer !== undefined) addWindow(plan, tile, layer, out[name], dims[1], sum);
        else for (let i = 0; i < sum.length; i++) sum[i] += out[name][i];
      }
    }
    return whole;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
