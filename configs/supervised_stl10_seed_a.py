"""CrossEntropy baseline of the Keras semi-supervised STL-10 baselines (docs/seeds.md, A): cross-entropy on 250
labelled images a step (the 5k labelled set walked through again and again, as the seed repeated it to zip with
its unlabelled stream), 25 epochs of 420 steps, Adam 1e-3, the seed's 4-conv encoder (convnet) and its
augmentation on every view; kNN (k=20, 200) with one vote per neighbour, bank = the 5k labelled train images.
Differs from the seed: its classifier is ReLU -> Dense(10) on the encoder's Dense(128); here that ReLU is the
encoder's (`model.final_relu`), so the network trained is the same, but kNN and the probe read the features
after the ReLU (the seed's kNN read them before it). An epoch is 420 steps (105k unlabelled+train images / 250,
as seed_a_recipe counts it; this method reads no unlabelled image) where the seed's was 400 (100k / 250)."""
from jaxssl.config import base_config, seed_a_recipe, use_dataset


def get_config():
  config = seed_a_recipe(use_dataset(base_config("supervised"), "stl10"))  # batch_size: 250 labelled images.
  config.model.final_relu = True  # The ReLU of the seed's classifier head (see the docstring).
  return config
