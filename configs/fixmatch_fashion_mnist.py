"""FixMatch on Fashion-MNIST (IDX files, see simclr_fashion_mnist) at 32×32: 64 labelled and μ = 7 × 64
unlabelled images a step, threshold 0.95, the digits config's convnet and Adam. Not tuned yet."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("fixmatch"), "fashion_mnist")
  config.labelled_batch_size, config.batch_size = 64, 448
  return config
