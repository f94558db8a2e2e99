"""Supervised baseline on STL-10's 5k labelled images as in the Keras SimCLR example (SEEDS.md, B): 25 labelled
images a step, 200 steps an epoch, 20 epochs, Adam 1e-3, classification augmentation (area >= 0.75, b=0.3,
j=0.1). The seed's batch of 25 runs on 1 or 5 devices; on 2/4/8 set --config.batch_size to a multiple."""
from jaxssl.config import base_config


def get_config():
  config = base_config("supervised")
  config.data.name = "stl10"
  config.data.image_size = 96
  config.batch_size = 25
  config.num_train_steps = 20 * 200
  config.log_every_steps = 50
  config.eval_every_steps = 200
  config.checkpoint_every_steps = 200
  config.model.final_relu = True
  config.augment.crop_scale = (0.75, 1.0)
  config.augment.brightness = 0.3
  config.augment.contrast = config.augment.saturation = config.augment.hue = 0.1
  config.augment.grayscale_prob = 0.0
  return config
