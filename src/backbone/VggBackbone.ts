import type { Backbone } from "./Backbone.js";
import { caffeToImage, imageToCaffe } from "./CaffeTensor.js";
import { featureSize, layersThrough, minimumInputSide, poolsThrough, vggLayers, type VggModel } from "./VggArchitecture.js";
import { VGG_CATALOGUE } from "./VggCatalogue.js";
import { VggGraph } from "./VggGraph.js";
import { loadVggWeights, obtainVggWeights } from "./VggWeightLoader.js";

/** VGG16 or VGG19 with Keras' ImageNet weights and Caffe pre-processing. */
export function vggBackbone(model: VggModel): Backbone {
  return {
    model,
    layers: vggLayers(model),
    layersThrough: (layer) => layersThrough(model, layer),
    poolsThrough: (layer) => poolsThrough(model, layer),
    featureSize: (size, layer) => featureSize(model, size, layer),
    minimumInputSide: (layer) => minimumInputSide(model, layer),
    toInput: imageToCaffe,
    fromInput: caffeToImage,
    graph: (g, weights, pooling) => new VggGraph(g, weights, pooling),
    catalogue: VGG_CATALOGUE[model],
    loadWeights: (file, options) => loadVggWeights(file, model, options),
    obtainWeights: (options) => obtainVggWeights(model, options),
  };
}
