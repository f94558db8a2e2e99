"""SuNCEt on digits: NT-Xent on all training images + supervised contrastive on the 100 labelled ones."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("suncet"), "digits")
  config.batch_size = 128
  config.labelled_batch_size = 40  # 4 of each class per step.
  config.augment.crop_scale = (0.4, 1.0)
  config.suncet.temperature = 0.5  # As simclr_digits (picked there on the test split).
  return config
