"""PAWS on STL-10 as in the Keras semi-supervised baselines (docs/seeds.md, A): 250 unlabelled + a 250-image
class-stratified labelled support batch per step, 25 epochs of the 105k unlabelled+train images (420 steps
each), Adam 1e-3, τ=0.1, T=0.25, no projector, the seed's augmentation on every view.
Differs from the seed: me-max uses the batch-mean of the sharpened predictions (as the PAWS paper's code),
and the seed used no label smoothing, so it is set to 0 here."""
from jaxssl.config import base_config, seed_a_recipe, use_dataset


def get_config():
  config = seed_a_recipe(use_dataset(base_config("paws"), "stl10"))
  config.paws.label_smoothing = 0.0
  config.eval.headline = "snn"  # PAWS is used with its own soft-nearest-neighbour classifier.
  return config
