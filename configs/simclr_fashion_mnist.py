"""SimCLR on Fashion-MNIST (70k real images) read offline from the original IDX files, resized to 32×32.
By default the IDX files come from Debian's dataset-fashion-mnist package; set --config.data.manual_dir=""
to read through TFDS instead. 100 labels per class form the kNN bank and the probe's training set."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("simclr"), "fashion_mnist")
  config.batch_size = 256
  return config
