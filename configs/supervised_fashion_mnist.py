"""Supervised baseline on Fashion-MNIST's 100 labels per class (offline IDX files, see simclr_fashion_mnist)."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("supervised"), "fashion_mnist")
  config.batch_size = 100
  use_weak_augment(config)
  return config
