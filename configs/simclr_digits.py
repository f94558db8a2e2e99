"""SimCLR on scikit-learn's digits (embedded, no download): the default job; a few minutes on a 2-core CPU.

All 1437 training images are unlabelled data; 10 labels per class form the kNN bank and the probe's set.
"""
from jaxssl.config import base_config


def get_config():
  config = base_config("simclr")
  config.data.name = "digits"
  config.data.image_size = 32
  config.data.labels_per_class = 10
  config.batch_size = 256
  config.num_train_steps = 300
  config.log_every_steps = 50
  config.eval_every_steps = 100
  config.checkpoint_every_steps = 100
  config.augment.flip = False  # Digits are not mirror-symmetric.
  config.augment.crop_scale = (0.4, 1.0)
  return config
