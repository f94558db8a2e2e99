"""SESEMI on Fashion-MNIST: supervised CE on 100 labels per class + 6-way proxy task on all images.

Searched on the validation split (`data.validation_size=10000`, never the test images) at the 4-epoch budget:
a cosine schedule after a 200-step warm-up (optimizer.schedule="cosine", optimizer.warmup_steps=200) beat the
constant rate on both labelled draws at 10 labels a class (its classifier 0.733 / 0.771 against 0.728 / 0.767),
so the declared rule adopts it. It is set here when SESEMI's nine test cells are trained again with it, so that
the results table holds what this config trains; until then this is the recipe of the table's SESEMI rows
(experiments/results/fashion_mnist_validation/notes.md, "SESEMI: a cosine schedule")."""
from jaxssl.config import base_config, use_dataset, use_weak_augment


def get_config():
  config = use_dataset(base_config("sesemi"), "fashion_mnist")
  config.batch_size = 16
  config.labelled_batch_size = 96
  use_weak_augment(config, min_area=0.85)
  return config
