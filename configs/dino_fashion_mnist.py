"""DINO on Fashion-MNIST (70k real images) from the original IDX files (Debian's dataset-fashion-mnist; set
--config.data.manual_dir="" for TFDS), resized to 32×32; the digits config's small heads. Not tuned yet."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("dino"), "fashion_mnist")
  config.batch_size = 256
  config.dino.hidden_dims, config.dino.bottleneck, config.dino.num_prototypes = (512,), 128, 1024
  config.dino.base_momentum = 0.99
  config.dino.teacher_temperature = 0.07
  return config
