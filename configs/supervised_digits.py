"""Supervised cross-entropy on digits with the same 10 labels per class as simclr_digits: the baseline."""
from jaxssl.config import base_config


def get_config():
  config = base_config("supervised")
  config.data.name = "digits"
  config.data.image_size = 32
  config.data.labels_per_class = 10
  config.batch_size = 64
  config.num_train_steps = 300
  config.log_every_steps = 50
  config.eval_every_steps = 100
  config.checkpoint_every_steps = 100
  # The Keras SimCLR example's classification augmentation: min area 0.75, brightness 0.3, jitter 0.1.
  config.augment.flip = False
  config.augment.crop_scale = (0.75, 1.0)
  config.augment.brightness = 0.3
  config.augment.contrast = config.augment.saturation = config.augment.hue = 0.1
  config.augment.grayscale_prob = 0.0
  return config
