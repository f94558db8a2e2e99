"""RotNet on Fashion-MNIST: 4-way rotation prediction on all 60k training images."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("rotnet"), "fashion_mnist")
  config.batch_size = 128
  use_weak_augment(config, min_area=0.85)
  return config
