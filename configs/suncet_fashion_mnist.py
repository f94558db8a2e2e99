"""SuNCEt on Fashion-MNIST: NT-Xent on 60k images + supervised contrastive on 100 labels per class."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("suncet"), "fashion_mnist")
  config.batch_size = 256
  config.labelled_batch_size = 100
  return config
