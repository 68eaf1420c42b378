import type { FloatType } from "../graph/GraphBuilder.js";
import { buildObjectiveGraph, GRAD_OUTPUT, IMAGE_INPUT, LOSS_OUTPUT, termOutput } from "../objective/ObjectiveGraph.js";
import type { ObjectiveEvaluation, ObjectiveSpec, ObjectiveTargets } from "../objective/ObjectiveSpec.js";
import type { BackboneWeights } from "../backbone/Backbone.js";
import type { Engine, EngineSession, EngineSettings, FloatArray, Tensor } from "./Engine.js";
import { onnxRuntimeCpu } from "./OnnxRuntimeCpu.js";

/** The compiled objective for one image size: loss terms and d loss / d image in one run. */
export class ObjectiveSession {
  private targetFeeds: Record<string, Tensor> | undefined;

  private constructor(
    readonly spec: ObjectiveSpec,
    private readonly session: EngineSession,
    /** The target inputs `setTargets` must feed, with their shapes. */
    readonly targetShapes: ReadonlyMap<string, readonly number[]>,
    private readonly terms: readonly string[],
    readonly floatType: FloatType,
  ) {}

  static async create(
    spec: ObjectiveSpec,
    weights: BackboneWeights,
    settings: EngineSettings = {},
    floatType: FloatType = "float32",
    engine: Engine = onnxRuntimeCpu,
  ): Promise<ObjectiveSession> {
    const graph = buildObjectiveGraph(spec, weights, floatType, engine.nativeOps);
    const session = await engine.createSession(graph.bytes, settings);
    return new ObjectiveSession(spec, session, graph.inputs, graph.terms, floatType);
  }

  /** Binds the targets once; every later evaluation reuses them. */
  setTargets(targets: ObjectiveTargets): void {
    const feeds: Record<string, Tensor> = {};
    for (const [name, dims] of this.targetShapes) {
      const data = targets.get(name);
      const size = dims.reduce((a, b) => a * b, 1);
      if (!data || data.length !== size) throw new Error(`target ${name} must have ${size} values (shape ${dims.join("x")})`);
      feeds[name] = { data: this.floatType === "float32" ? data : Float64Array.from(data), dims };
    }
    this.targetFeeds = feeds;
  }

  async evaluate(image: FloatArray): Promise<ObjectiveEvaluation> {
    if (!this.targetFeeds) throw new Error("setTargets() must be called before evaluate()");
    const { height, width } = this.spec;
    const x = this.floatType === "float32" ? (image instanceof Float32Array ? image : Float32Array.from(image)) : image instanceof Float64Array ? image : Float64Array.from(image);
    const out = await this.session.run({ ...this.targetFeeds, [IMAGE_INPUT]: { data: x, dims: [1, 3, height, width] } });
    const scalar = (name: string) => Number(out[name][0]);
    const terms = Object.fromEntries(this.terms.map((name) => [name, scalar(termOutput(name))]));
    return { loss: scalar(LOSS_OUTPUT), terms, grad: out[GRAD_OUTPUT] };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
