import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** Element type of the graph's floating-point tensors: float32 for speed, float64 for gradient checks. */
export type FloatType = "float32" | "float64";

/** Operators that graph builders lower to basic ones where the engine lacks them. */
export type LowerableOp = "Conv" | "AveragePool" | "MaxUnpool";
/** Which lowerable operators an engine runs at a float type (engine/Engine's `nativeOps`). */
export type NativeOps = (op: LowerableOp, floatType: FloatType) => boolean;

type AttrValue = number | number[] | string;

const OPSET = 13;
const IR_VERSION = 8;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

/**
 * Accumulates ONNX nodes, initializers, inputs and outputs and serialises them with the onnx-proto
 * definitions. Node outputs get fresh unique names, so graph-building code reads like expressions.
 */
export class GraphBuilder {
  readonly floatType: FloatType;
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(
    floatType: FloatType = "float32",
    private readonly nativeOps: NativeOps = () => true,
  ) {
    this.floatType = floatType;
  }

  /** Whether `op` may be emitted as it is; otherwise the builder lowers it. */
  native(op: LowerableOp): boolean {
    return this.nativeOps(op, this.floatType);
  }

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  private get floatDataType(): number {
    return this.floatType === "float32" ? DT.FLOAT : DT.DOUBLE;
  }

  input(name: string, dims: readonly number[]): string {
    this.inputs.push(valueInfo(name, this.floatDataType, dims));
    return name;
  }

  /** Marks `value` as a graph output called `name` (through Identity when it already has another name). */
  output(name: string, value: string, dims: readonly number[]): void {
    if (value !== name) this.nodes.push({ opType: "Identity", input: [value], output: [name], name });
    this.outputs.push(valueInfo(name, this.floatDataType, dims));
  }

  /** A float initializer in the graph's float type (values are converted when the type is float64). */
  floats(hint: string, dims: readonly number[], values: ArrayLike<number>): string {
    const name = this.fresh(hint);
    const data = this.floatType === "float32" ? Float32Array.from(values) : Float64Array.from(values);
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: this.floatDataType,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  /** A float scalar, shared between all uses of the same value. */
  scalar(value: number): string {
    const key = `f:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.floats("c", [], [value]);
      this.constants.set(key, name);
    }
    return name;
  }

  /** An int64 vector (shapes, pads, slice bounds), shared between all uses of the same value. */
  ints(values: readonly number[]): string {
    const key = `i:${values.join(",")}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.fresh("i");
      const data = BigInt64Array.from(values.map((v) => BigInt(v)));
      this.initializers.push({
        name,
        dims: [values.length],
        dataType: DT.INT64,
        rawData: new Uint8Array(data.buffer),
      });
      this.constants.set(key, name);
    }
    return name;
  }

  /** Adds one node and returns its output names. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outputCount = 1): string[] {
    const output = Array.from({ length: outputCount }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      input: [...inputs],
      output,
      name: output[0],
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
    return output;
  }

  /** Single-output node. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, attrs)[0];
  }

  /**
   * The graph's inputs that its outputs depend on. Graph code may add nodes no output needs (a
   * window's first pass builds the terms but keeps only their sums); `toBytes` leaves those out.
   */
  usedInputs(): string[] {
    const needed = this.needed();
    return this.inputs.map((i) => i.name!).filter((name) => needed.has(name));
  }

  toBytes(): Uint8Array {
    const needed = this.needed();
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: "pastiche",
      opsetImport: [{ domain: "", version: OPSET }],
      graph: {
        name: "pastiche",
        node: this.nodes.filter((n) => n.output!.some((o) => needed.has(o))),
        initializer: this.initializers.filter((i) => needed.has(i.name!)),
        input: this.inputs.filter((i) => needed.has(i.name!)),
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  /** Every tensor name the outputs depend on, walking the nodes backwards. */
  private needed(): Set<string> {
    const needed = new Set(this.outputs.map((o) => o.name!));
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      if (node.output!.some((o) => needed.has(o))) for (const input of node.input!) needed.add(input);
    }
    return needed;
  }
}

function valueInfo(name: string, elemType: number, dims: readonly number[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof v === "string") return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === "number") return { name, type: AT.INT, i: v };
  return { name, type: AT.INTS, ints: v };
}
