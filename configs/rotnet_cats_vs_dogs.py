"""RotNet on cats vs dogs at 120×120 (docs/seeds.md, E), 80/20 split of TFDS's train split. Differs from the seed:
every image in all 4 rotations (the seed drew one random rotation) and ResNet-18 (ImageNet stem: 120 px ->
30 px after the stem) instead of ResNet-20."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("rotnet"), "cats_vs_dogs")
  config.batch_size = 64
  config.model.name = "resnet18"
  use_weak_augment(config, min_area=0.75)
  return config
