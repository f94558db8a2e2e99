"""SESEMI on digits: supervised CE on the 100 labelled images + 6-way rotation/flip proxy task on all images."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("sesemi"), "digits")
  config.batch_size = 16           # Unlabelled images: 16 × 6 = 96 proxy inputs,
  config.labelled_batch_size = 96  # as many as labelled inputs (the seed's balance).
  use_weak_augment(config, min_area=0.85)
  return config
