"""BYOL on Fashion-MNIST (70k real images) from the original IDX files (Debian's dataset-fashion-mnist; set
--config.data.manual_dir="" for TFDS), resized to 32×32; the digits config's small heads.

Carried over from the digits config, not tuned on Fashion-MNIST: a 10-step learning-rate warm-up (on digits,
without it the first full-size Adam steps pulled the online encoder below the untrained one)."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("byol"), "fashion_mnist")
  config.batch_size = 256
  config.byol.projector_dims, config.byol.predictor_dims = (512, 128), (512, 128)
  config.byol.base_momentum = 0.99
  config.optimizer.warmup_steps = 10
  return config
