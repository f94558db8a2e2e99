"""MoCo v3 on scikit-learn's digits (embedded, no download): a small-head version for a 2-core CPU; all 1437
training images are unlabelled data, 10 labels per class form the kNN bank and the probe's set."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("moco_v3"), "digits")
  config.batch_size = 256
  config.augment.crop_scale = (0.4, 1.0)
  config.moco_v3.projector_dims, config.moco_v3.predictor_dims = (512, 512, 128), (512, 128)
  config.moco_v3.temperature = 0.2
  return config
