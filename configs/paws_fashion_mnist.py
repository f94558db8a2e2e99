"""PAWS on Fashion-MNIST with 100 labels per class (support: 10 per class per step)."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("paws"), "fashion_mnist")
  config.batch_size = 256
  config.labelled_batch_size = 100
  config.eval.headline = "snn"  # PAWS is used with its own soft-nearest-neighbour classifier.
  return config
