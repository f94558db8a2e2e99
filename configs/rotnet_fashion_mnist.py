"""RotNet on Fashion-MNIST: 4-way rotation prediction on all 60k training images.

Not tuned on Fashion-MNIST yet. Measured on the validation split and not yet set here: evaluation reading the
last conv block (`--config.model.feature_layer=conv4`, 128-d at 32 px) instead of the final Dense, which the
rotation task specialises. Same encoders, fine-tuned at 10 labels per class: 0.653 → 0.702 (draw 0) and
0.733 → 0.745 (draw 1); conv3 and conv2 fell below the Dense on draw 1
(experiments/results/fashion_mnist_validation/notes.md). It joins this config when RotNet's test cells in
experiments/results/fashion_mnist/ are evaluated at it, so that the two never disagree."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("rotnet"), "fashion_mnist")
  config.batch_size = 128
  use_weak_augment(config, min_area=0.85)
  return config
