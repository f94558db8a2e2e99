"""MoCo v3 on CIFAR-10 (TFDS), following solo-learn's CIFAR recipe (ResNet-18 with the CIFAR stem, batch 256, LARS
η=0.02 without decay or trust ratio on biases and norms, 10 warm-up epochs then cosine, 1000 epochs = 195,313
steps; two 32 px crops of area 0.08–1, colour jitter 0.8, grayscale 0.2, flip): lr 0.3, weight decay 1e-6,
T=0.2, projector 4096→256 (2 layers), predictor 4096→256, momentum 0.99→1. Differs: no solarisation, and the
projector's last BatchNorm (affine-free) is left out."""
from jaxssl.config import base_config, use_dataset, use_solo_learn_cifar


def get_config():
  config = use_solo_learn_cifar(use_dataset(base_config("moco_v3"), "cifar10"))
  config.optimizer.learning_rate, config.optimizer.weight_decay = 0.3, 1e-6
  config.moco_v3.projector_dims = (4096, 256)
  return config
