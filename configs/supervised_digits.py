"""Supervised cross-entropy on digits with the same 10 labels per class as the other digits configs: the
baseline every self-/semi-supervised method is read against."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("supervised"), "digits")
  config.batch_size = 64
  use_weak_augment(config)
  return config
