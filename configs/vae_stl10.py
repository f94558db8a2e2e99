"""VAE on STL-10 (SEEDS.md, D): z=64, Gaussian likelihood; the seed's MSE (mean over pixels) + 0.01·KL equals,
up to a constant factor, ½·SSE + β·KL with β = 0.005 × 96·96·3 = 138.24."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("vae"), "stl10")
  config.batch_size = 128
  config.vae.likelihood = "gaussian"
  config.vae.beta = 0.005 * 96 * 96 * 3
  config.vae.decoder_channels = (256, 128, 64, 32, 32)
  use_weak_augment(config, min_area=0.85)
  return config
