import type { CatalogueEntry } from "../weights/WeightStore.js";
import type { VggModel } from "./VggArchitecture.js";

/** Keras' ImageNet "notop" files (convolutional part only), as keras.applications downloads them. */
export const VGG_CATALOGUE: Readonly<Record<VggModel, CatalogueEntry>> = {
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
