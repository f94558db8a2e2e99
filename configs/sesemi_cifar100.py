"""SESEMI on CIFAR-100 (docs/seeds.md, C): 10k labels (100 per class); otherwise as sesemi_cifar10."""
from jaxssl.config import base_config, use_dataset, sesemi_recipe


def get_config():
  config = use_dataset(base_config("sesemi"), "cifar100")
  sesemi_recipe(config, epochs=50)
  return config
