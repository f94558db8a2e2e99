"""VICReg on Fashion-MNIST (70k real images) from the original IDX files (Debian's dataset-fashion-mnist; set
--config.data.manual_dir="" for TFDS), resized to 32×32; the digits config's small heads. Not tuned yet."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("vicreg"), "fashion_mnist")
  config.batch_size = 256
  config.vicreg.projector_dims = (512, 512, 512)
  return config
