"""Supervised baseline on STL-10's 5k labelled images as in the Keras SimCLR example (docs/seeds.md, B): 25 labelled
images a step, 200 steps an epoch, 20 epochs, Adam 1e-3, classification augmentation (area >= 0.75, b=0.3,
j=0.1). The seed's batch of 25 runs on 1 or 5 devices; on 2/4/8 set --config.batch_size to a multiple."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("supervised"), "stl10")
  config.batch_size = 25
  config.model.final_relu = True
  use_weak_augment(config)
  return config
