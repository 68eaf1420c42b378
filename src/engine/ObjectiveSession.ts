import ort from "onnxruntime-node";
import { buildObjectiveGraph, GRAD_OUTPUT, IMAGE_INPUT, LOSS_OUTPUT, termOutput } from "../objective/ObjectiveGraph.js";
import type { FloatType } from "../graph/GraphBuilder.js";
import type { Evaluation, ObjectiveSpec, ObjectiveTargets } from "../objective/ObjectiveSpec.js";
import type { VggWeights } from "../weights/VggWeights.js";

export interface EngineSettings {
  /** Intra-op threads; default: ORT's choice (one per core). */
  threads?: number;
}

/** Settings measured best for these graphs (see bench/engine.ts and docs/ARCHITECTURE.md). */
export function sessionOptions(settings: EngineSettings): ort.InferenceSession.SessionOptions {
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
    /** The target inputs `setTargets` must feed, with their shapes. */
    readonly targetShapes: ReadonlyMap<string, readonly number[]>,
    private readonly terms: readonly string[],
    readonly floatType: FloatType,
  ) {}

  static async create(spec: ObjectiveSpec, weights: VggWeights, settings: EngineSettings = {}, floatType: FloatType = "float32"): Promise<ObjectiveSession> {
    const graph = buildObjectiveGraph(spec, weights, floatType);
    const session = await ort.InferenceSession.create(graph.bytes, sessionOptions(settings));
    return new ObjectiveSession(spec, session, graph.inputs, graph.terms, floatType);
  }

  /** Binds the targets once; every later evaluation reuses them. */
  setTargets(targets: ObjectiveTargets): void {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, dims] of this.targetShapes) {
      const data = targets.get(name);
      const size = dims.reduce((a, b) => a * b, 1);
      if (!data || data.length !== size) throw new Error(`target ${name} must have ${size} values (shape ${dims.join("x")})`);
      feeds[name] = new ort.Tensor(this.floatType, this.floatType === "float32" ? data : Float64Array.from(data), dims);
    }
    this.targetFeeds = feeds;
  }

  async evaluate(image: FloatArray): Promise<Evaluation> {
    if (!this.targetFeeds) throw new Error("setTargets() must be called before evaluate()");
    const { height, width } = this.spec;
    const x = this.floatType === "float32" ? (image instanceof Float32Array ? image : Float32Array.from(image)) : image instanceof Float64Array ? image : Float64Array.from(image);
    const out = await this.session.run({ ...this.targetFeeds, [IMAGE_INPUT]: new ort.Tensor(this.floatType, x, [1, 3, height, width]) });
    const scalar = (name: string) => Number((out[name].data as FloatArray)[0]);
    const terms = Object.fromEntries(this.terms.map((name) => [name, scalar(termOutput(name))]));
    return { loss: scalar(LOSS_OUTPUT), terms, grad: out[GRAD_OUTPUT].data as FloatArray };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
