"""VAE on STL-10 as in the RotNet-vs-VAE seed (docs/seeds.md, D): z=64, Gaussian likelihood, the seed's
MSE + 0.01·KL (see jaxssl.config.seed_d_vae_recipe)."""
from jaxssl.config import base_config, seed_d_vae_recipe, use_dataset


def get_config():
  return seed_d_vae_recipe(use_dataset(base_config("vae"), "stl10"), min_area=0.85)
