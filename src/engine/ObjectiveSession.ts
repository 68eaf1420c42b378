import ort from "onnxruntime-node";
import { buildObjectiveGraph, buildTargetGraph, contentInput, gramInput, IMAGE_INPUT, maskInput, type TargetShapes } from "../graph/ObjectiveGraph.js";
import type { FloatType } from "../graph/GraphBuilder.js";
import type { Evaluation, ObjectiveSpec, ObjectiveTargets, Pooling } from "../graph/ObjectiveSpec.js";
import type { ModelName } from "../model/VggArchitecture.js";
import type { VggWeights } from "../weights/VggWeights.js";

export interface EngineSettings {
  /** Intra-op threads; default: ORT's choice (one per core). */
  threads?: number;
}

/** Settings measured best for these graphs (see bench/engine.ts and docs/ARCHITECTURE.md). */
function sessionOptions(settings: EngineSettings): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    interOpNumThreads: 1,
    ...(settings.threads ? { intraOpNumThreads: settings.threads } : {}),
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
}

type FloatArray = Float32Array | Float64Array;

/** The compiled objective for one image size: loss terms and d loss / d image in one ORT run. */
export class ObjectiveSession {
  private targetFeeds: Record<string, ort.Tensor> | undefined;

  private constructor(
    readonly spec: ObjectiveSpec,
    private readonly session: ort.InferenceSession,
    private readonly targetShapes: TargetShapes,
    readonly floatType: FloatType,
  ) {}

  static async create(spec: ObjectiveSpec, weights: VggWeights, settings: EngineSettings = {}, floatType: FloatType = "float32"): Promise<ObjectiveSession> {
    const graph = buildObjectiveGraph(spec, weights, floatType);
    const session = await ort.InferenceSession.create(graph.bytes, sessionOptions(settings));
    return new ObjectiveSession(spec, session, graph.targetShapes, floatType);
  }

  /** Binds the targets once; every later evaluation reuses them. */
  setTargets(targets: ObjectiveTargets): void {
    const feeds: Record<string, ort.Tensor> = {};
    const bind = (name: string, data: Float32Array | undefined, dims: readonly number[]) => {
      const size = dims.reduce((a, b) => a * b, 1);
      if (!data || data.length !== size) throw new Error(`target ${name} must have ${size} values (shape ${dims.join("x")})`);
      feeds[name] = new ort.Tensor(this.floatType, this.floatType === "float32" ? data : Float64Array.from(data), dims);
    };
    for (const [layer, dims] of this.targetShapes.content) bind(contentInput(layer), targets.content.get(layer), dims);
    for (const [key, dims] of this.targetShapes.grams) bind(gramInput(key), targets.grams.get(key), dims);
    for (const [key, dims] of this.targetShapes.masks) bind(maskInput(key), targets.masks?.get(key), dims);
    this.targetFeeds = feeds;
  }

  async evaluate(image: FloatArray): Promise<Evaluation> {
    if (!this.targetFeeds) throw new Error("setTargets() must be called before evaluate()");
    const { height, width } = this.spec;
    const x = this.floatType === "float32" ? (image instanceof Float32Array ? image : Float32Array.from(image)) : image instanceof Float64Array ? image : Float64Array.from(image);
    const out = await this.session.run({ ...this.targetFeeds, [IMAGE_INPUT]: new ort.Tensor(this.floatType, x, [1, 3, height, width]) });
    const scalar = (name: string) => Number((out[name].data as FloatArray)[0]);
    return { loss: scalar("loss"), content: scalar("content"), style: scalar("style"), tv: scalar("tv"), grad: out.grad.data as FloatArray };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Forward-only session computing an image's content features and Gram matrices at the given layers. */
export class TargetExtractor {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly layers: { content: readonly string[]; style: readonly string[] },
    private readonly height: number,
    private readonly width: number,
  ) {}

  static async create(
    model: ModelName,
    weights: VggWeights,
    pooling: Pooling,
    size: { height: number; width: number },
    layers: { content: readonly string[]; style: readonly string[] },
    settings: EngineSettings = {},
  ): Promise<TargetExtractor> {
    const bytes = buildTargetGraph(model, weights, pooling, size.height, size.width, layers);
    const session = await ort.InferenceSession.create(bytes, sessionOptions(settings));
    return new TargetExtractor(session, layers, size.height, size.width);
  }

  async extract(image: Float32Array): Promise<ObjectiveTargets> {
    const out = await this.session.run({ [IMAGE_INPUT]: new ort.Tensor("float32", image, [1, 3, this.height, this.width]) });
    const pick = (names: readonly string[], key: (l: string) => string) => new Map(names.map((l) => [l, out[key(l)].data as Float32Array]));
    return { content: pick(this.layers.content, contentInput), grams: pick(this.layers.style, gramInput) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
