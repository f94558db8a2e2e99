"""PAWS on digits: soft-nearest-neighbour pseudo-labels from a support batch of the 100 labelled images."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("paws"), "digits")
  config.batch_size = 128
  config.labelled_batch_size = 40  # Support: 4 of each class per step.
  config.augment.crop_scale = (0.4, 1.0)
  config.eval.headline = "snn"  # PAWS is used with its own soft-nearest-neighbour classifier.
  return config
