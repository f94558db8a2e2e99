"""SuNCEt on Fashion-MNIST: NT-Xent on 60k images + supervised contrastive on the labelled images.

Tuned on the validation split (`data.validation_size=10000`, never the test images) at the 4-epoch budget:
SimCLR's tuned pair, temperature 0.2 (not 0.1) and contrast jitter 0.6 (not 0.2). Fine-tuned at 10 labels per
class, draws 0, 1 and 2: 0.704 / 0.758 / 0.750 against 0.712 / 0.715 / 0.738 before (mean +1.6; kNN +2.7),
taken by the rule declared before draw 2 (experiments/results/fashion_mnist_validation/notes.md). On the test
images, with its nine encoders trained again (SuNCEt pre-trains on each cell's labels): 0.710 → 0.727 at 10
labels per class, 0.528 → 0.555 at 1, 0.804 → 0.811 at 100 (means of three draws;
experiments/results/fashion_mnist/)."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("suncet"), "fashion_mnist")
  config.batch_size = 256
  config.labelled_batch_size = 100
  config.suncet.temperature = 0.2
  config.augment.contrast = 0.6
  return config
