import ort from "onnxruntime-node";
import type { Engine, FloatArray } from "./Engine.js";

/**
 * ONNX Runtime's CPU provider (onnxruntime-node); the only importer of onnxruntime. Its Conv,
 * AveragePool and MaxUnpool kernels are float32-only, so float64 graphs (gradient checks) lower them.
 */
export const onnxRuntimeCpu: Engine = {
  name: "onnxruntime-cpu",
  nativeOps: (_op, floatType) => floatType === "float32",

  async createSession(model, settings) {
    // Settings measured best for these graphs (see bench/engine.ts).
    const session = await ort.InferenceSession.create(model, {
      graphOptimizationLevel: "all",
      executionMode: "sequential",
      interOpNumThreads: 1,
      ...(settings.threads ? { intraOpNumThreads: settings.threads } : {}),
      enableCpuMemArena: true,
      enableMemPattern: true,
    });
    return {
      async run(feeds) {
        const tensors = Object.fromEntries(
          Object.entries(feeds).map(([name, t]) => [name, new ort.Tensor(t.data instanceof Float32Array ? "float32" : "float64", t.data, t.dims)]),
        );
        const out = await session.run(tensors);
        return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, t.data as FloatArray]));
      },
      release: () => session.release(),
    };
  },

  /**
   * ~1.1 GB for the runtime, weights and sessions plus ~4.3 KB per output pixel (fitted to
   * bench/engine.ts's peak RSS at 256 and 512 px). Coarse-to-fine scales release their sessions
   * in turn, so the finest scale sets the peak.
   */
  estimateMemoryBytes: (outputPixels) => 1.1e9 + 4300 * outputPixels,
};
