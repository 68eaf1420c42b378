import { stat } from "node:fs/promises";
import path from "node:path";
import h5wasm, { type Attribute, type Dataset, type File as H5File, type Group } from "h5wasm/node";
import { PasticheError } from "../errors.js";
import { resolveWeights } from "../weights/WeightStore.js";
import type { BackboneWeights, ConvLayer, ConvParams, LoadWeightsOptions, ObtainWeightsOptions } from "./Backbone.js";
import { VGG_MODELS, convLayers, layersThrough, type VggModel } from "./VggArchitecture.js";
import { VGG_CATALOGUE } from "./VggCatalogue.js";

/** The conv layers of `model` up to and including `upTo` (a conv or pool layer name; default all). */
export function convLayersUpTo(model: VggModel, upTo?: string): ConvLayer[] {
  return upTo === undefined ? convLayers(model) : layersThrough(model, upTo).filter((l): l is ConvLayer => l.kind === "conv");
}

/** resolveWeights (user file, cache or download) followed by loadVggWeights. */
export async function obtainVggWeights(model: VggModel, options: ObtainWeightsOptions): Promise<BackboneWeights> {
  const resolved = await resolveWeights({ ...options, entry: options.entry ?? VGG_CATALOGUE[model] });
  return loadVggWeights(resolved.path, model, { upTo: options.upTo, source: resolved });
}

/**
 * Reads the conv weights of `model` from a Keras "notop" HDF5 file, checking its layout and
 * every tensor's shape and dtype against the architecture.
 */
export async function loadVggWeights(
  file: string,
  model: VggModel,
  options: LoadWeightsOptions = {},
): Promise<BackboneWeights> {
  const abs = path.resolve(file);
  const wanted = convLayersUpTo(model, options.upTo);
  const st = await stat(abs).catch((e: NodeJS.ErrnoException) => {
    throw new PasticheError("WEIGHTS_MISSING", `Weights file not found: ${abs} (${e.code ?? e.message})`, { cause: e });
  });
  if (!st.isFile()) throw new PasticheError("WEIGHTS_MISSING", `Weights path is not a file: ${abs}`);
  // As a local file: hashed and compared with the catalogue.
  const source = options.source ?? (await resolveWeights({ entry: VGG_CATALOGUE[model], weights: abs }));

  const h5 = await openH5(abs, model);
  try {
    checkLayout(h5, abs, model, wanted.length);
    const layers = new Map<string, ConvParams>();
    for (const layer of wanted) layers.set(layer.name, readLayer(h5, abs, model, layer));
    return {
      model,
      layers,
      source: { path: abs, md5: source.md5, catalogued: source.catalogued, note: source.note },
    };
  } finally {
    h5.close();
  }
}

const upper = (model: VggModel) => model.toUpperCase();

function invalid(file: string, problem: string, fix: string): PasticheError {
  return new PasticheError("WEIGHTS_INVALID", `Invalid weights file ${file}: ${problem}. ${fix}`);
}

function defaultFix(model: VggModel): string {
  return (
    `Pass Keras' ${VGG_CATALOGUE[model].fileName} with --weights FILE, ` +
    `or omit --weights to download it.`
  );
}

let errorsThrow = false;

async function openH5(file: string, model: VggModel): Promise<H5File> {
  const module = await h5wasm.ready;
  if (!errorsThrow) {
    // By default HDF5 prints its error stack to stderr and h5wasm returns invalid handles;
    // this makes every failure an exception whose text we can turn into a message.
    module.activate_throwing_error_handler();
    errorsThrow = true;
  }
  try {
    return new h5wasm.File(file, "r");
  } catch (e) {
    const detail = hdf5Detail(e);
    const hint = /truncated/.test(detail) ? " (the file is incomplete: an interrupted download or copy?)" : "";
    throw invalid(file, `not a readable HDF5 file: ${detail}${hint}`, defaultFix(model));
  }
}

/** The innermost message of an HDF5 error stack, e.g. "file signature not found". */
function hdf5Detail(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const frames = text.split("\n").filter((l) => /#\d+:/.test(l));
  const last = frames[frames.length - 1];
  return last ? last.replace(/^.*?\(\): /, "").trim() : text.trim();
}

/** An HDF5 string-list attribute; Keras writes an empty one for layers without weights. */
function stringList(owner: { attrs: Record<string, Attribute> }, name: string): string[] | null {
  const attr = owner.attrs[name];
  if (!attr) return null;
  const value = attr.value;
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((v): v is string => typeof v === "string")) return value;
  if (ArrayBuffer.isView(value) && value.byteLength === 0) return [];
  return null;
}

function groupAt(h5: H5File, name: string): Group | null {
  const entity = h5.get(name);
  return entity instanceof h5wasm.Group ? entity : null;
}

/** Names of the layers the file holds weights for, in file order. */
function weightedLayers(h5: H5File, file: string, model: VggModel): string[] {
  const names = stringList(h5, "layer_names");
  if (!names) {
    throw invalid(file, "no root attribute layer_names, so it is not a Keras HDF5 weights file", defaultFix(model));
  }
  return names.filter((name) => {
    const group = groupAt(h5, name);
    if (!group) throw invalid(file, `layer_names lists "${name}" but the file has no group ${name}`, defaultFix(model));
    return (stringList(group, "weight_names") ?? []).length > 0;
  });
}

/**
 * Why the file's weighted layers do not fit `model`, or null. Missing layers are accepted only at
 * the deep end and beyond the first `needed` conv layers (a file written only up to some depth).
 */
function layoutProblem(layers: ReadonlySet<string>, model: VggModel, needed: number): string | null {
  const convs = convLayers(model).map((l) => l.name);
  const extra = [...layers].filter((n) => !convs.includes(n));
  if (extra.length > 0) return `it has layers ${extra.join(", ")} that ${upper(model)} does not have`;
  const gap = convs.findIndex((n) => !layers.has(n));
  if (gap < 0) return null;
  const deeper = convs.slice(gap).filter((n) => layers.has(n));
  if (deeper.length > 0) return `it lacks layer ${convs[gap]} of ${upper(model)} but has the deeper ${deeper.join(", ")}`;
  if (gap < needed) {
    const held = gap > 0 ? `it holds only the layers up to ${convs[gap - 1]}` : "it holds no conv layers";
    return `it has no layer ${convs[gap]} (${held})`;
  }
  return null;
}

function checkLayout(h5: H5File, file: string, model: VggModel, needed: number): void {
  const layers = new Set(weightedLayers(h5, file, model));
  const problem = layoutProblem(layers, model, needed);
  if (!problem) return;
  // Name the other model only when the layers contradict this one, not when the file is merely shallow.
  const contradicts = layoutProblem(layers, model, 0) !== null;
  const other = contradicts ? VGG_MODELS.find((m) => m !== model && layoutProblem(layers, m, 0) === null) : undefined;
  const fix = other
    ? `This looks like ${upper(other)} weights; use --model ${other} (or the ${upper(model)} file with --weights FILE).`
    : defaultFix(model);
  throw invalid(file, `the layers do not match ${upper(model)}: ${problem}`, fix);
}

/** Keras names them <layer>_W_1:0 / <layer>_b_1:0 (older) or kernel:0 / bias:0 (newer), kernel first. */
function kernelAndBias(names: [string, string]): [string, string] {
  const kernel = names.find((n) => /(_W|kernel)(_\d+)?:\d+$/.test(n)) ?? names[0];
  return [kernel, names[0] === kernel ? names[1] : names[0]];
}

function readLayer(h5: H5File, file: string, model: VggModel, layer: ConvLayer): ConvParams {
  const group = groupAt(h5, layer.name) as Group; // checkLayout has seen it
  const names = stringList(group, "weight_names") ?? [];
  if (names.length !== 2) {
    throw invalid(
      file,
      `layer ${layer.name} has ${names.length} weights (${names.join(", ")}) instead of a kernel and a bias`,
      defaultFix(model),
    );
  }
  const [kernelName, biasName] = kernelAndBias([names[0], names[1]]);
  const { inChannels, outChannels } = layer;
  return {
    kernel: readTensor(group, kernelName, [3, 3, inChannels, outChannels], file, model, layer.name),
    bias: readTensor(group, biasName, [outChannels], file, model, layer.name),
    inChannels,
    outChannels,
  };
}

function allFinite(values: Float32Array): boolean {
  // x - x is NaN exactly for NaN and ±Infinity; a plain loop is ~10x faster than every().
  for (let i = 0; i < values.length; i++) if (values[i] - values[i] !== 0) return false;
  return true;
}

function readTensor(
  group: Group,
  name: string,
  expected: number[],
  file: string,
  model: VggModel,
  layer: string,
): Float32Array {
  const entity = group.get(name);
  if (!(entity instanceof h5wasm.Dataset)) {
    throw invalid(file, `layer ${layer} lists weight ${name} but has no such dataset`, defaultFix(model));
  }
  const ds: Dataset = entity;
  const shape = ds.shape ?? [];
  if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
    throw invalid(
      file,
      `layer ${layer} weight ${name} has shape [${shape.join(",")}], ${upper(model)} expects [${expected.join(",")}]`,
      defaultFix(model),
    );
  }
  const meta = ds.metadata;
  // type 1 is H5T_FLOAT; a big-endian float would be handed over byte-swapped.
  if (meta.type !== 1 || meta.size !== 4 || !meta.littleEndian) {
    throw invalid(
      file,
      `layer ${layer} weight ${name} has dtype ${String(ds.dtype)}, expected little-endian float32 (<f)`,
      defaultFix(model),
    );
  }
  let value: unknown;
  try {
    value = ds.value;
  } catch (e) {
    throw invalid(file, `layer ${layer} weight ${name} cannot be read: ${hdf5Detail(e)}`, defaultFix(model));
  }
  if (!(value instanceof Float32Array)) {
    throw invalid(file, `layer ${layer} weight ${name} did not read as float32`, defaultFix(model));
  }
  if (!allFinite(value)) {
    throw invalid(file, `layer ${layer} weight ${name} contains NaN or infinite values`, defaultFix(model));
  }
  return value;
}
