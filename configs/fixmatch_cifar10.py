"""FixMatch on CIFAR-10 with 250 labels (25 per class), the paper's recipe (Sohn et al. 2020; USB's table
uses it): WRN-28-2, 64 labelled + μ = 7 × 64 unlabelled images a step, SGD with Nesterov momentum 0.9, lr
0.03, weight decay 5e-4, 2^20 steps, threshold 0.95, λ_u = 1, RandAugment (2 operations, random magnitude)
+ Cutout for the strong view, evaluation of the EMA model (decay 0.999). Differs: the learning rate decays on
a full cosine to 0 (the paper: cos(7πk / 16K), ending at 0.2 of the peak), and weight decay is coupled to
SGD as jaxssl's `sgd` applies it (kernels only)."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("fixmatch"), "cifar10")
  config.data.labels_per_class = 25
  config.model.name = "wrn28_2"
  config.labelled_batch_size, config.batch_size = 64, 448
  config.num_train_steps = 2 ** 20
  config.eval_every_steps = config.checkpoint_every_steps = 5_000
  config.optimizer.name, config.optimizer.learning_rate, config.optimizer.momentum = "sgd", 0.03, 0.9
  config.optimizer.schedule, config.optimizer.weight_decay = "cosine", 5e-4
  return config
