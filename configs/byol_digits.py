"""BYOL on scikit-learn's digits (embedded, no download): a small-head version for a 2-core CPU; all 1437
training images are unlabelled data, 10 labels per class form the kNN bank and the probe's set."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("byol"), "digits")
  config.batch_size = 256
  config.augment.crop_scale = (0.4, 1.0)
  config.byol.projector_dims, config.byol.predictor_dims = (512, 128), (512, 128)
  config.byol.base_momentum = 0.99
  return config
