"""BYOL on scikit-learn's digits (embedded, no download): a small-head version for a 2-core CPU; all 1437
training images are unlabelled data, 10 labels per class form the kNN bank and the probe's set.

Tuned for digits: a 10-step linear learning-rate warm-up (BYOL's recipe warms up too). Without it the first
full-size Adam steps align predictions and targets through a component common to every image (the loss
falls from 4.0 to 1.6 in 10 steps), the online encoder drops to 0.756 kNN at step 30 and only regains the
untrained encoder's 0.825 by step 90 (0.817); the target, an EMA of that dip, stays below it. With the
warm-up the online encoder reaches 0.861 at step 90 (1 device). Tried and worse at 90 steps: warm-up 30
(0.844), momentum 0.996 (0.847) or 0.9 (0.817, no warm-up), learning rate 3e-4 (0.758) or 3e-3 (0.819).
With 4 devices as the tests run, online kNN at step 120 of 120-step runs, seeds 0 / 1 / 2: 0.825 -> 0.875,
0.861 -> 0.883, 0.853 -> 0.872 (without the warm-up, seed 0: 0.842); the target stays below the untrained
encoder (0.781 at step 120) (docs/methods.md#status-on-digits-2-core-cpu-measured).
"""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("byol"), "digits")
  config.batch_size = 256
  config.augment.crop_scale = (0.4, 1.0)
  config.byol.projector_dims, config.byol.predictor_dims = (512, 128), (512, 128)
  config.byol.base_momentum = 0.99
  config.optimizer.warmup_steps = 10
  return config
