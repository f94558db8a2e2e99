"""MoCo v3 on Fashion-MNIST (70k real images) from the original IDX files (Debian's dataset-fashion-mnist; set
--config.data.manual_dir="" for TFDS), resized to 32×32; the digits config's small heads. Not tuned yet."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("moco_v3"), "fashion_mnist")
  config.batch_size = 256
  config.moco_v3.projector_dims, config.moco_v3.predictor_dims = (512, 512, 128), (512, 128)
  config.moco_v3.temperature = 0.2
  return config
