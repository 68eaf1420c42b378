import type { ModelName } from "./VggArchitecture.js";

/** A downloadable weights file: where it lives and what it must hash to. */
export interface CatalogueEntry {
  readonly model: ModelName;
  readonly url: string;
  /** Name of the file in the cache directory. */
  readonly fileName: string;
  readonly size: number;
  readonly md5: string;
}

/** Keras' ImageNet "notop" files (convolutional part only), as keras.applications downloads them. */
export const WEIGHT_CATALOGUE: Readonly<Record<ModelName, CatalogueEntry>> = {
  vgg16: {
    model: "vgg16",
    url: "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    fileName: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    size: 58_889_256,
    md5: "6d6bbae143d832006294945121d1f1fc",
  },
  vgg19: {
    model: "vgg19",
    url: "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    fileName: "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    size: 80_134_624,
    md5: "253f8cb515780f3b799900260a226db6",
  },
};
