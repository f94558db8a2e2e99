"""SESEMI on Fashion-MNIST: supervised CE on 100 labels per class + 6-way proxy task on all images."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("sesemi"), "fashion_mnist")
  config.batch_size = 16
  config.labelled_batch_size = 96
  use_weak_augment(config, min_area=0.85)
  return config
