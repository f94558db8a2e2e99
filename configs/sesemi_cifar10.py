"""SESEMI on CIFAR-10 (docs/seeds.md, C): 1000 labels (100 per class; --config.data.labels_per_class=200 or 400 for the
seed's 2000/4000), 16 unlabelled × 6 proxy inputs + 96 labelled per step, SGD Nesterov 0.9, lr 0.05 with
polynomial (power 0.5) decay, L2 5e-4, 50 epochs of 520 steps.
Encoder: WRN-28-2, one of the seed's networks (its headline numbers are from a 13-layer ConvNet that jaxssl
does not have). Differs from the seed: no ZCA whitening or Gaussian input noise; ±2 px shifts are approximated
by crops of area >= 0.77."""
from jaxssl.config import base_config, use_dataset, sesemi_recipe


def get_config():
  config = use_dataset(base_config("sesemi"), "cifar10")
  sesemi_recipe(config, epochs=50)
  return config
