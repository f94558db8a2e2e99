"""BYOL on Fashion-MNIST (70k real images) from the original IDX files (Debian's dataset-fashion-mnist; set
--config.data.manual_dir="" for TFDS), resized to 32×32; the digits config's small heads.

Tuned on the validation split (`data.validation_size=10000`, never the test images) at the 4-epoch budget:
contrast jitter 0.6 (not 0.2), the change that helped SimCLR, VICReg and Barlow Twins on these grey images.
Fine-tuned at 10 labels per class, labelled draws 0 and 1: 0.716 / 0.702 against 0.670 / 0.697 before (+2.5
points); at 1 label per class 0.530 / 0.479 against 0.471 / 0.472 (+3.4). At 10 labels kNN and the probe lost
0.2 to 0.8 points (experiments/results/fashion_mnist_validation/notes.md has the runs).

Also carried over from the digits config, not tuned on Fashion-MNIST: a 10-step learning-rate warm-up (on digits,
without it the first full-size Adam steps pulled the online encoder below the untrained one)."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("byol"), "fashion_mnist")
  config.batch_size = 256
  config.byol.projector_dims, config.byol.predictor_dims = (512, 128), (512, 128)
  config.byol.base_momentum = 0.99
  config.optimizer.warmup_steps = 10
  config.augment.contrast = 0.6
  return config
