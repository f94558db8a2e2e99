"""SESEMI on SVHN (docs/seeds.md, C): 500 labels (50 per class), no flips, 30 epochs; otherwise as sesemi_cifar10."""
from jaxssl.config import base_config, use_dataset, sesemi_recipe


def get_config():
  config = use_dataset(base_config("sesemi"), "svhn_cropped")
  sesemi_recipe(config, epochs=30)
  return config
