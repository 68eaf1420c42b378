import ort from "onnxruntime-node";
import type { Engine, FloatArray } from "./Engine.js";

/** ORT's memory switches; bench/footprint.ts measures a run's peak RSS and speed with each setting. */
export interface OrtMemoryOptions {
  /**
   * Plan one block for all of a run's intermediates from the first run. With the arena the first
   * run's tensors stay allocated beside that block: ~0.45 GB more at 512 px, no measurable speed-up.
   */
  memoryPattern: boolean;
  /** Keep pre-packed copies of constant weights for the kernels: ~0.1 GB, no measurable speed-up. */
  prepacking: boolean;
}

/** What onnxRuntimeCpu uses. */
export const LEAN_MEMORY: OrtMemoryOptions = { memoryPattern: false, prepacking: false };

/**
 * ONNX Runtime's CPU provider (onnxruntime-node); the only importer of onnxruntime. Its Conv,
 * AveragePool and MaxUnpool kernels are float32-only, so float64 graphs (gradient checks) lower them.
 */
export function createOnnxRuntimeCpu(memory: OrtMemoryOptions = LEAN_MEMORY): Engine {
  return {
    name: "onnxruntime-cpu",
    nativeOps: (_op, floatType) => floatType === "float32",

    async createSession(model, settings) {
      // Settings measured best for these graphs (bench/engine.ts, bench/footprint.ts). "all" includes
      // the NCHWc layout: without it an evaluation takes ~1.2x as long (for ~0.3 GB less at 512 px).
      const session = await ort.InferenceSession.create(model, {
        graphOptimizationLevel: "all",
        executionMode: "sequential",
        interOpNumThreads: 1,
        ...(settings.threads ? { intraOpNumThreads: settings.threads } : {}),
        // Without the arena, glibc's heap fragments: a higher peak than with it.
        enableCpuMemArena: true,
        enableMemPattern: memory.memoryPattern,
        extra: { session: { disable_prepacking: memory.prepacking ? "0" : "1" } },
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
     * Peak RSS of a whole run: ~0.75 GB for Node, the runtime, the weights and the sessions' copies
     * of them, plus ~3.4 KB per output pixel (activations, the optimiser's history). Fitted above
     * `pastiche` runs' peaks: seed preset (VGG16) 0.86 / 1.26 GB at 256 / 512 px, default (VGG19)
     * 0.78 / 1.16-1.19 / 2.26 GB at 256 / 512 / 768 px, 3.34 / 9.32 GB at 1024x768 / 2048x1536
     * (bench/hires.ts, 3 evaluations). Coarse-to-fine scales release their sessions in turn, so the
     * finest scale sets the peak.
     */
    estimateMemoryBytes: (outputPixels) => 0.75e9 + 3400 * outputPixels,
  };
}

export const onnxRuntimeCpu: Engine = createOnnxRuntimeCpu();
