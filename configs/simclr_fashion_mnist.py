"""SimCLR on Fashion-MNIST (70k real images) read offline from the original IDX files, resized to 32×32.

By default the IDX files come from Debian's dataset-fashion-mnist package; set --config.data.manual_dir=""
to read through TFDS instead. 100 labels per class form the kNN bank and the probe's training set.
"""
from jaxssl.config import base_config


def get_config():
  config = base_config("simclr")
  config.data.name = "fashion_mnist"
  config.data.manual_dir = "/usr/share/datasets/fashion-mnist"
  config.data.image_size = 32
  config.data.labels_per_class = 100
  config.batch_size = 256
  config.num_train_steps = 2000
  config.log_every_steps = 100
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 500
  config.augment.crop_scale = (0.25, 1.0)
  return config
