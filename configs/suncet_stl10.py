"""SuNCEt on STL-10 as in the Keras semi-supervised baselines (docs/seeds.md, A): InfoNCE on 250 unlabelled images
+ 1.0 × SuNCEt on a 250-image class-stratified labelled batch, T=0.1, 25 epochs (420 steps each), Adam 1e-3,
no projector. Differs from the seed: its InfoNCE was one-directional (z1·z2ᵀ); nt_xent is symmetric."""
from jaxssl.config import base_config, seed_a_recipe, use_dataset


def get_config():
  return seed_a_recipe(use_dataset(base_config("suncet"), "stl10"))
