"""Siamese VAE on STL-10 (docs/seeds.md, D): the VAE of vae_stl10 + 5 × triplet loss (squared L2, margin 0.5) on the
latent means of two augmented views, the negative being another image of the batch."""
from jaxssl.config import base_config, seed_d_vae_recipe, use_dataset


def get_config():
  return seed_d_vae_recipe(use_dataset(base_config("siamese_vae"), "stl10"), min_area=0.6)
