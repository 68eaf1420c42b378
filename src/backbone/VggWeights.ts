import type { ModelName } from "./VggArchitecture.js";

/** One conv layer's parameters exactly as Keras stores them: kernel HWIO [3,3,in,out], bias [out]. */
export interface ConvParams {
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
  readonly inChannels: number;
  readonly outChannels: number;
}

/** The conv weights of one VGG model, keyed by Keras layer name (block1_conv1 ...). */
export interface VggWeights {
  readonly model: ModelName;
  readonly layers: ReadonlyMap<string, ConvParams>;
  /**
   * Where they came from, for reports: a file path, its md5, whether that is the catalogue's file,
   * and a note for the user when it is not.
   */
  readonly source: {
    readonly path: string;
    readonly md5: string;
    readonly catalogued: boolean;
    readonly note?: string;
  };
}
