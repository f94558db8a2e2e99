"""RotNet on CIFAR-10 (docs/seeds.md, D): all 4 rotations of 128 images per step, SGD Nesterov 0.9, weight decay
5e-4, lr 0.1 with cosine decay (the seed used a step table), 20k steps. Encoder: WRN-28-2 (the seed's AlexNet
needs at least 63 px; configs/rotnet_stl10.py runs it at 96 px)."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("rotnet"), "cifar10")
  config.batch_size = 128
  config.model.name = "wrn28_2"
  config.optimizer.name, config.optimizer.learning_rate = "sgd", 0.1
  config.optimizer.schedule, config.optimizer.weight_decay = "cosine", 5e-4
  use_weak_augment(config, min_area=0.75)
  return config
