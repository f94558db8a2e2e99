"""Siamese VAE on digits: VAE on two views + triplet loss (weight 5, margin 0.5) on their latent means."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("siamese_vae"), "digits")
  config.batch_size = 128
  use_weak_augment(config, min_area=0.6)
  return config
