import { buildTargetGraph, IMAGE_INPUT } from "../objective/ObjectiveGraph.js";
import type { ObjectiveOptions } from "../objective/ObjectiveSpec.js";
import type { Features, ImageSize } from "../objective/terms/LossTerm.js";
import type { BackboneWeights } from "../backbone/Backbone.js";
import type { Engine, EngineSession, EngineSettings } from "./Engine.js";
import { onnxRuntimeCpu } from "./OnnxRuntimeCpu.js";

/** Forward-only session computing the features the objective's terms need from target images of one size. */
export class TargetExtractor {
  private constructor(
    private readonly session: EngineSession,
    private readonly features: readonly string[],
    private readonly size: ImageSize,
  ) {}

  static async create(options: ObjectiveOptions, weights: BackboneWeights, size: ImageSize, settings: EngineSettings = {}, engine: Engine = onnxRuntimeCpu): Promise<TargetExtractor> {
    const graph = buildTargetGraph(options, weights, size, engine.nativeOps);
    const session = await engine.createSession(graph.bytes, settings);
    return new TargetExtractor(session, graph.features, { width: size.width, height: size.height });
  }

  /** `image`: Caffe-space NCHW [1,3,h,w] of the extractor's size. */
  async extract(image: Float32Array): Promise<Features> {
    const out = await this.session.run({ [IMAGE_INPUT]: { data: image, dims: [1, 3, this.size.height, this.size.width] } });
    return new Map(this.features.map((name) => [name, out[name] as Float32Array]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
