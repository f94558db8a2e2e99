"""InfoNCE baseline of the Keras semi-supervised STL-10 baselines (docs/seeds.md, A): one-directional InfoNCE
(`simclr.symmetric=False`: cross-entropy of z1·z2ᵀ / 0.1 over view-2 columns, positives on the diagonal; not
SimCLR's symmetric NT-Xent) between two views of 500 images a step from STL-10's 100k unlabelled split, on the
encoder's features (no projector), 25 epochs of 200 steps, Adam 1e-3, the seed's 4-conv encoder and its
augmentation on every view; kNN (k=20, 200) with one vote per neighbour, bank = the 5k labelled train images.
As in the seed, the unlabelled stream leaves the 5k train images out (the other seed-A configs keep them in,
105k images, 420 steps an epoch).
The seed's step also drew 25 labelled images, which its InfoNCE loss never reads (they are encoded and
dropped), so they are left out here: that changes the compute, not the loss or its gradient."""
from jaxssl.config import base_config, seed_a_recipe, use_dataset


def get_config():
  config = seed_a_recipe(use_dataset(base_config("simclr"), "stl10"))
  config.batch_size, config.labelled_batch_size = 500, 0  # SimCLR reads no labelled stream (see the docstring).
  config.data.unlabelled_includes_labelled = False
  config.num_train_steps = 25 * 200
  config.eval_every_steps = config.checkpoint_every_steps = 200
  config.simclr.symmetric, config.simclr.projector_dims = False, ()
  return config
