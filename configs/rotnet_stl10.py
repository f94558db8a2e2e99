"""RotNet on STL-10 with the seed's AlexNet-BN (docs/seeds.md, D): all 4 rotations of 128 unlabelled 96 px images per
step, SGD Nesterov 0.9, weight decay 5e-4, lr 0.1 with cosine decay (the seed used a step table). The rotation
head trains on fc7; evaluation reads the flattened conv4 block (5×5×256), as the seed's classifiers read an
intermediate conv block (--config.model.feature_layer=conv1..conv5 or fc to compare blocks).
Differs from the seed: STL-10's 100k unlabelled images stand in for its 1000-class 96 px set."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("rotnet"), "stl10")
  config.model.name, config.model.feature_layer = "alexnet", "conv4"
  config.batch_size = 128
  config.optimizer.name, config.optimizer.learning_rate = "sgd", 0.1
  config.optimizer.schedule, config.optimizer.weight_decay = "cosine", 5e-4
  use_weak_augment(config, min_area=0.75)
  return config
