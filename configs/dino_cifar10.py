"""DINO on CIFAR-10 (TFDS), following solo-learn's CIFAR recipe (ResNet-18 with the CIFAR stem, batch 256, LARS
η=0.02 without decay or trust ratio on biases and norms, 10 warm-up epochs then cosine, 1000 epochs = 195,313
steps; two 32 px crops of area 0.08–1, colour jitter 0.8, grayscale 0.2, flip): lr 0.3, weight decay 1e-6, head
2048-2048-256 (GELU, no BatchNorm) + 4096 weight-normalised prototypes, student T 0.1, teacher T 0.07 without
warm-up, momentum 0.9995→1, two global crops and no local ones. Differs: no solarisation, and the prototypes are
not frozen during the first epoch."""
from jaxssl.config import base_config, use_dataset, use_solo_learn_cifar


def get_config():
  config = use_solo_learn_cifar(use_dataset(base_config("dino"), "cifar10"))
  config.optimizer.learning_rate, config.optimizer.weight_decay = 0.3, 1e-6
  config.dino.base_momentum = 0.9995
  config.dino.teacher_temperature, config.dino.teacher_warmup_fraction = 0.07, 0.0
  return config
