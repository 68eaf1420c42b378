import type { GraphBuilder } from "../graph/GraphBuilder.js";
import { layersThrough } from "./VggArchitecture.js";
import type { Activation, BackboneGraph, BackboneWeights, Pooling } from "./Backbone.js";
import { PasticheError } from "../errors.js";

interface ConvStep {
  readonly kind: "conv";
  readonly name: string;
  readonly inChannels: number;
  readonly output: Activation;
  readonly kernel: string;
}
interface PoolStep {
  readonly kind: "pool";
  readonly name: string;
  readonly input: Activation;
  readonly output: Activation;
  /** MaxPool's argmax positions, when its backward is a MaxUnpool. */
  readonly indices?: string;
}
type Step = ConvStep | PoolStep;

/**
 * VGG's forward pass into a GraphBuilder, remembering what its hand-derived backward pass needs.
 *
 * Backward rules: ReLU passes the gradient where its output is positive; a 3x3 'same' conv passes
 * it back through a conv with the kernel's in/out channels swapped and flipped spatially; max-pool
 * routes it to the positions equal to the pooled maximum; average-pool spreads it evenly. Pooling
 * floors odd sizes as Keras does, so the dropped last row/column gets zero gradient.
 */
export class VggGraph implements BackboneGraph {
  private readonly steps: Step[] = [];

  constructor(
    private readonly g: GraphBuilder,
    private readonly weights: BackboneWeights,
    private readonly pooling: Pooling,
  ) {}

  /** Runs layers from the image [1,3,H,W] through `deepest`; returns every layer's output by name (convs after ReLU). */
  forward(image: string, height: number, width: number, deepest: string): Map<string, Activation> {
    const layers = layersThrough(this.weights.model, deepest);
    const outputs = new Map<string, Activation>();
    let x: Activation = { tensor: image, channels: 3, height, width };
    for (const layer of layers) {
      if (layer.kind === "conv") {
        const params = this.weights.layers.get(layer.name);
        if (!params) throw new Error(`weights for ${layer.name} were not loaded`);
        const kernel = this.g.floats(`${layer.name}_W`, [layer.outChannels, layer.inChannels, 3, 3], hwioToOihw(params.kernel, layer.inChannels, layer.outChannels));
        const bias = this.g.floats(`${layer.name}_b`, [layer.outChannels], params.bias);
        const pre = this.conv3x3(x, kernel, layer.outChannels, bias);
        x = { tensor: this.g.op("Relu", [pre]), channels: layer.outChannels, height: x.height, width: x.width };
        this.steps.push({ kind: "conv", name: layer.name, inChannels: layer.inChannels, output: x, kernel });
      } else {
        if (x.height < 2 || x.width < 2) {
          throw new PasticheError("INPUT_TOO_SMALL", `the image is too small to reach ${deepest}: ${layer.name} needs at least 2x2 activations`);
        }
        const input = x;
        const height = Math.floor(x.height / 2);
        const width = Math.floor(x.width / 2);
        const { tensor, indices } = this.pool2x2(input, height, width);
        x = { tensor, channels: x.channels, height, width };
        this.steps.push({ kind: "pool", name: layer.name, input, output: x, indices });
      }
      outputs.set(layer.name, x);
    }
    return outputs;
  }

  /**
   * Gradient with respect to the image, given d loss / d activation at some layers (summed into the
   * backward stream where that layer's output lies, before its ReLU mask).
   */
  backward(gradients: ReadonlyMap<string, string>): string {
    let grad: string | undefined;
    for (let i = this.steps.length - 1; i >= 0; i--) {
      const step = this.steps[i];
      const own = gradients.get(step.name);
      if (own) grad = grad ? this.g.op("Add", [grad, own]) : own;
      if (!grad) continue;
      if (step.kind === "conv") {
        const positive = this.g.op("Greater", [step.output.tensor, this.g.scalar(0)]);
        const dz = this.g.op("Where", [positive, grad, this.g.scalar(0)]);
        grad = this.conv3x3({ ...step.output, tensor: dz }, this.flipKernel(step.kernel), step.inChannels);
      } else {
        grad = this.poolBackward(step, grad);
      }
    }
    if (!grad) throw new Error("backward() needs at least one layer gradient");
    return grad;
  }

  /** W' [in,out,3,3] = W [out,in,3,3] with channels swapped and taps reversed; ORT folds it once at load. */
  private flipKernel(kernel: string): string {
    const swapped = this.g.op("Transpose", [kernel], { perm: [1, 0, 2, 3] });
    const far = -(2 ** 62);
    return this.g.op("Slice", [swapped, this.g.ints([-1, -1]), this.g.ints([far, far]), this.g.ints([2, 3]), this.g.ints([-1, -1])]);
  }

  /**
   * 3x3 stride-1 'same' convolution. Where the engine has no Conv for the float type (ORT's CPU
   * Conv is float32-only; float64 graphs are for gradient checks) it is lowered to nine shifted
   * copies and one MatMul, with the same kernel tensor.
   */
  private conv3x3(x: Activation, kernel: string, outChannels: number, bias?: string): string {
    const g = this.g;
    if (g.native("Conv")) {
      return g.op("Conv", bias ? [x.tensor, kernel, bias] : [x.tensor, kernel], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    }
    const { channels: c, height: h, width: w } = x;
    const padded = g.op("Pad", [x.tensor, g.ints([0, 0, 1, 1, 0, 0, 1, 1]), g.scalar(0)]);
    const taps: string[] = [];
    for (let dy = 0; dy < 3; dy++) {
      for (let dx = 0; dx < 3; dx++) {
        taps.push(g.op("Slice", [padded, g.ints([dy, dx]), g.ints([dy + h, dx + w]), g.ints([2, 3])]));
      }
    }
    const columns = g.op("Reshape", [g.op("Concat", taps, { axis: 1 }), g.ints([9 * c, h * w])]);
    const matrix = g.op("Reshape", [g.op("Transpose", [kernel], { perm: [0, 2, 3, 1] }), g.ints([outChannels, 9 * c])]);
    const y = g.op("Reshape", [g.op("MatMul", [matrix, columns]), g.ints([1, outChannels, h, w])]);
    return bias ? g.op("Add", [y, g.op("Reshape", [bias, g.ints([1, outChannels, 1, 1])])]) : y;
  }

  /**
   * 2x2 stride-2 pooling that drops an odd last row/column. With the engine's MaxUnpool, max-pooling
   * also returns its argmax so the backward pass is one MaxUnpool (measured ~10% faster per
   * evaluation at 512 px than re-deriving the argmax with Expand/Equal/Where). Without (ORT's CPU
   * AveragePool and MaxUnpool are float32-only) it averages with Reshape + ReduceMean and routes
   * max-pool gradients through an equality mask.
   */
  private pool2x2(input: Activation, h: number, w: number): { tensor: string; indices?: string } {
    const g = this.g;
    const window = { kernel_shape: [2, 2], strides: [2, 2] };
    if (this.pooling === "max") {
      if (!g.native("MaxUnpool")) return { tensor: g.op("MaxPool", [input.tensor], window) };
      const [tensor, indices] = g.node("MaxPool", [input.tensor], window, 2);
      return { tensor, indices };
    }
    if (g.native("AveragePool")) return { tensor: g.op("AveragePool", [input.tensor], window) };
    const c = input.channels;
    const even = g.op("Slice", [input.tensor, g.ints([0, 0]), g.ints([2 * h, 2 * w]), g.ints([2, 3])]);
    const blocks = g.op("Reshape", [even, g.ints([1, c, h, 2, w, 2])]);
    return { tensor: g.op("ReduceMean", [blocks], { axes: [3, 5], keepdims: 0 }) };
  }

  private poolBackward(step: PoolStep, grad: string): string {
    const g = this.g;
    const { input, output } = step;
    const c = input.channels;
    const up = (t: string) => {
      const blocks = g.op("Expand", [g.op("Reshape", [t, g.ints([1, c, output.height, 1, output.width, 1])]), g.ints([1, c, output.height, 2, output.width, 2])]);
      const even = g.op("Reshape", [blocks, g.ints([1, c, 2 * output.height, 2 * output.width])]);
      const padH = input.height - 2 * output.height;
      const padW = input.width - 2 * output.width;
      return padH || padW ? g.op("Pad", [even, g.ints([0, 0, 0, 0, 0, 0, padH, padW]), g.scalar(0)]) : even;
    };
    if (this.pooling === "avg") return g.op("Mul", [up(grad), g.scalar(0.25)]);
    if (step.indices) {
      return g.op("MaxUnpool", [grad, step.indices, g.ints([1, c, input.height, input.width])], { kernel_shape: [2, 2], strides: [2, 2] });
    }
    const isMax = g.op("Equal", [input.tensor, up(output.tensor)]);
    return g.op("Where", [isMax, up(grad), g.scalar(0)]);
  }
}

/** Keras HWIO [3,3,in,out] -> ONNX OIHW [out,in,3,3]. */
export function hwioToOihw(kernel: Float32Array, inC: number, outC: number): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let ky = 0; ky < 3; ky++) {
    for (let kx = 0; kx < 3; kx++) {
      for (let i = 0; i < inC; i++) {
        const src = ((ky * 3 + kx) * inC + i) * outC;
        for (let o = 0; o < outC; o++) out[((o * inC + i) * 3 + ky) * 3 + kx] = kernel[src + o];
      }
    }
  }
  return out;
}
