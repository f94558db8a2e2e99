"""RotNet on digits: 4-way rotation prediction on all training images."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("rotnet"), "digits")
  config.batch_size = 128  # × 4 rotations.
  use_weak_augment(config, min_area=0.85)
  return config
