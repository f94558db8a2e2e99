"""SimCLR on STL-10 96×96 as in the Keras SimCLR example (../shared/SEEDS.md, B): 500 images a step from the
105k unlabelled+train images, 200 steps an epoch, 20 epochs, Adam 1e-3, T=0.1, convnet with ReLU on its
Dense(128), projector Dense(128, ReLU) -> Dense(128); kNN bank = the 5k labelled train images."""
from jaxssl.config import base_config


def get_config():
  config = base_config("simclr")
  config.data.name = "stl10"
  config.data.image_size = 96
  config.batch_size = 500
  config.num_train_steps = 20 * 200
  config.log_every_steps = 50
  config.eval_every_steps = 200
  config.checkpoint_every_steps = 200
  config.model.final_relu = True
  config.augment.crop_scale = (0.25, 1.0)
  config.augment.brightness = 0.6
  config.augment.contrast = config.augment.saturation = config.augment.hue = 0.2
  return config
