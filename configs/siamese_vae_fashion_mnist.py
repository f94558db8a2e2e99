"""Siamese VAE on Fashion-MNIST (triplet weight 5, margin 0.5)."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("siamese_vae"), "fashion_mnist")
  config.batch_size = 128
  use_weak_augment(config, min_area=0.6)
  return config
