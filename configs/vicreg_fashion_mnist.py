"""VICReg on Fashion-MNIST (70k real images) from the original IDX files (Debian's dataset-fashion-mnist; set
--config.data.manual_dir="" for TFDS), resized to 32×32; the digits config's small heads.

Tuned on the validation split (`data.validation_size=10000`, never the test images) at the 4-epoch budget:
contrast jitter 0.6 (not 0.2), the change that helped SimCLR on these grey images. Fine-tuned at 10 labels per
class, labelled draws 0 and 1: 0.678 / 0.697 against 0.619 / 0.680 before (+3.8 points); at 1 label per class
0.530 / 0.495 against 0.430 / 0.465 (+6.5); experiments/results/fashion_mnist_validation/notes.md has the runs."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("vicreg"), "fashion_mnist")
  config.batch_size = 256
  config.vicreg.projector_dims = (512, 512, 512)
  config.augment.contrast = 0.6
  return config
