"""FixMatch on scikit-learn's digits (embedded): 10 labels per class; 32 labelled (weak view) and μ = 4 × 32
unlabelled images (weak + strong view) a step, a CPU-sized version of the CIFAR recipe
(configs/fixmatch_cifar10.py), with an EMA decay of 0.99. Digits are not flipped."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("fixmatch"), "digits")
  config.labelled_batch_size, config.batch_size = 32, 128
  config.fixmatch.ema_decay = 0.99  # 300 steps: the paper's 0.999 would leave the EMA model near its start.
  return config
