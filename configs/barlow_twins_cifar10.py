"""Barlow Twins on CIFAR-10 (TFDS), following solo-learn's CIFAR recipe (ResNet-18 with the CIFAR stem, batch 256,
LARS η=0.02 without decay or trust ratio on biases and norms, 10 warm-up epochs then cosine, 1000 epochs =
195,313 steps; two 32 px crops of area 0.08–1, colour jitter 0.8, grayscale 0.2, flip): lr 0.3, weight decay
1e-4, projector 2048-2048-2048, λ=0.0051, loss scaled by 0.1. Differs: no solarisation."""
from jaxssl.config import base_config, use_dataset, use_solo_learn_cifar


def get_config():
  config = use_solo_learn_cifar(use_dataset(base_config("barlow_twins"), "cifar10"))
  config.optimizer.learning_rate, config.optimizer.weight_decay = 0.3, 1e-4
  config.barlow_twins.scale_loss = 0.1
  return config
