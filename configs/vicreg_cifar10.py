"""VICReg on CIFAR-10 (TFDS), following solo-learn's CIFAR recipe (ResNet-18 with the CIFAR stem, batch 256, LARS
η=0.02 without decay or trust ratio on biases and norms, 10 warm-up epochs then cosine, 1000 epochs = 195,313
steps; two 32 px crops of area 0.08–1, colour jitter 0.8, grayscale 0.2, flip): lr 0.3, weight decay 1e-4,
expander 2048-2048-2048, weights 25/25/1, crops of area 0.2–1. Differs: no solarisation (solo-learn: 0.1)."""
from jaxssl.config import base_config, use_dataset, use_solo_learn_cifar


def get_config():
  config = use_solo_learn_cifar(use_dataset(base_config("vicreg"), "cifar10"))
  config.optimizer.learning_rate, config.optimizer.weight_decay = 0.3, 1e-4
  config.augment.crop_scale = (0.2, 1.0)
  return config
