import type { FloatType, NativeOps } from "../graph/GraphBuilder.js";

export type FloatArray = Float32Array | Float64Array;

/** A tensor as the engine takes it: data in the graph's float type and its shape. */
export interface Tensor {
  readonly data: FloatArray;
  readonly dims: readonly number[];
}

export interface EngineSettings {
  /** Intra-op threads; default: the engine's choice (one per core). */
  threads?: number;
}

/** One compiled graph. */
export interface EngineSession {
  /** Runs the graph on the feeds; returns every output's data by name. */
  run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, FloatArray>>;
  release(): Promise<void>;
}

/**
 * An execution engine: the only place that knows the runtime. Graph lowering asks `nativeOps`
 * which operators it may emit as they are; sessions get the provider and thread options here.
 */
export interface Engine {
  readonly name: string;
  readonly nativeOps: NativeOps;
  createSession(model: Uint8Array, settings: EngineSettings): Promise<EngineSession>;
  /** Peak resident memory of a run, in bytes, from its output's pixel count. */
  estimateMemoryBytes(outputPixels: number): number;
}
