"""SimCLR on STL-10 96×96 as in the Keras SimCLR example (docs/seeds.md, B): 500 images a step from the
105k unlabelled+train images, 200 steps an epoch, 20 epochs, Adam 1e-3, T=0.1, convnet with ReLU on its
Dense(128), projector Dense(128, ReLU) -> Dense(128); kNN bank = the 5k labelled train images.
Differs from the seed: the 25 labelled images of its 525-image batch are not added (they are already in the
unlabelled stream), and its colour-affine jitter is replaced by brightness 0.6 / contrast, saturation, hue 0.2."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("simclr"), "stl10")
  config.batch_size = 500
  config.model.final_relu = True
  config.augment.crop_scale = (0.25, 1.0)
  return config
