"""VAE on Fashion-MNIST (Bernoulli likelihood, 64-d latent)."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("vae"), "fashion_mnist")
  config.batch_size = 128
  use_weak_augment(config, min_area=0.85)
  return config
