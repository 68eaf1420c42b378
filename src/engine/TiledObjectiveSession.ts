import { backboneFor, type BackboneWeights } from "../backbone/Backbone.js";
import {
  buildObjectiveGraph,
  FIRST_INPUT,
  GRAD_OUTPUT,
  IMAGE_INPUT,
  LOSS_OUTPUT,
  ownedInput,
  termOutput,
  wholeInput,
  type CompiledGraph,
} from "../objective/ObjectiveGraph.js";
import type { ObjectiveEvaluation, ObjectiveSpec, ObjectiveTargets } from "../objective/ObjectiveSpec.js";
import { addWindow, cropWindow, ownershipMask, type Tile, type TilePlan } from "../objective/Tiles.js";
import type { Engine, EngineSession, EngineSettings, FloatArray, Tensor } from "./Engine.js";
import { onnxRuntimeCpu } from "./OnnxRuntimeCpu.js";

/** Called after each window of an evaluation: `done` of `total` window runs (two passes). */
export type WindowProgress = (done: number, total: number) => void;

/**
 * The objective of an image too large for one session, evaluated window by window (objective/Tiles)
 * with the same loss and gradient: a first pass adds up every window's share of the sums the terms
 * need whole (Gram matrices, energies); a second gives each window those sums and adds up its share
 * of the loss and its gradient. Both passes' sessions have the window's size, whatever the image's.
 */
export class TiledObjectiveSession {
  private targets: ObjectiveTargets | undefined;

  private constructor(
    readonly spec: ObjectiveSpec,
    readonly plan: TilePlan,
    private readonly sums: { graph: CompiledGraph; session: EngineSession },
    private readonly objective: { graph: CompiledGraph; session: EngineSession },
  ) {}

  static async create(spec: ObjectiveSpec, weights: BackboneWeights, plan: TilePlan, settings: EngineSettings = {}, engine: Engine = onnxRuntimeCpu): Promise<TiledObjectiveSession> {
    const compile = async (kind: "window" | "window-sums") => {
      const graph = buildObjectiveGraph(spec, weights, "float32", engine.nativeOps, { kind, size: plan.window });
      return { graph, session: await engine.createSession(graph.bytes, settings) };
    };
    const sums = await compile("window-sums");
    try {
      return new TiledObjectiveSession(spec, plan, sums, await compile("window"));
    } catch (e) {
      await sums.session.release();
      throw e;
    }
  }

  /** The whole image's targets; each window is fed its part. */
  setTargets(targets: ObjectiveTargets): void {
    this.targets = targets;
  }

  async evaluate(image: FloatArray, onWindow?: WindowProgress): Promise<ObjectiveEvaluation> {
    const { plan } = this;
    const total = 2 * plan.tiles.length;
    let done = 0;
    const sums = new Map([...this.objective.graph.sums].map(([name, dims]) => [name, new Float64Array(dims.reduce((a, b) => a * b, 1))]));
    for (const tile of plan.tiles) {
      const out = await this.sums.session.run(this.feeds(this.sums.graph, tile, image));
      for (const [name, sum] of sums) {
        const share = out[wholeInput(name)];
        for (let i = 0; i < sum.length; i++) sum[i] += share[i];
      }
      onWindow?.(++done, total);
    }

    const wholeFeeds: Record<string, Tensor> = {};
    for (const [name, sum] of sums) wholeFeeds[wholeInput(name)] = { data: Float32Array.from(sum), dims: this.objective.graph.sums.get(name)! };
    let loss = 0;
    const terms = Object.fromEntries(this.objective.graph.terms.map((name) => [name, 0]));
    const grad = new Float32Array(3 * plan.size.width * plan.size.height);
    for (const [i, tile] of plan.tiles.entries()) {
      const feeds = { ...this.feeds(this.objective.graph, tile, image), ...wholeFeeds, [FIRST_INPUT]: { data: Float32Array.of(i === 0 ? 1 : 0), dims: [] } };
      const out = await this.objective.session.run(feeds);
      loss += Number(out[LOSS_OUTPUT][0]);
      for (const name of this.objective.graph.terms) terms[name] += Number(out[termOutput(name)][0]);
      addWindow(plan, tile, undefined, out[GRAD_OUTPUT], 3, grad);
      onWindow?.(++done, total);
    }
    return { loss, terms, grad };
  }

  /** A window's inputs to one of the two graphs: its pixels, ownership maps and targets. */
  private feeds(graph: CompiledGraph, tile: Tile, image: FloatArray): Record<string, Tensor> {
    if (!this.targets) throw new Error("setTargets() must be called before evaluate()");
    const { plan, spec } = this;
    const feeds: Record<string, Tensor> = {
      [IMAGE_INPUT]: { data: cropWindow(plan, tile, undefined, image, 3), dims: [1, 3, plan.window.height, plan.window.width] },
    };
    for (const layer of graph.owned) {
      const { width, height } = layer === undefined ? plan.window : backboneFor(spec.model).featureSize(plan.window, layer);
      feeds[ownedInput(layer)] = { data: ownershipMask(plan, tile, layer), dims: [1, 1, height, width] };
    }
    for (const [name, dims] of graph.inputs) {
      const data = this.targets.get(name);
      if (!data) throw new Error(`target ${name} was not given`);
      const at = graph.layerInputs.get(name);
      feeds[name] = { data: at ? cropWindow(plan, tile, at.layer, data, at.channels) : data, dims };
    }
    return feeds;
  }

  async release(): Promise<void> {
    await this.sums.session.release();
    await this.objective.session.release();
  }
}
