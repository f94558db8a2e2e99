"""Siamese VAE on STL-10 (SEEDS.md, D): the VAE of vae_stl10 + 5 × triplet loss (squared L2, margin 0.5) on the
latent means of two augmented views, the negative being another image of the batch."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("siamese_vae"), "stl10")
  config.batch_size = 128
  config.siamese_vae.likelihood = "gaussian"
  config.siamese_vae.beta = 0.005 * 96 * 96 * 3
  config.siamese_vae.decoder_channels = (256, 128, 64, 32, 32)
  use_weak_augment(config, min_area=0.6)
  return config
