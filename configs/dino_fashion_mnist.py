"""DINO on Fashion-MNIST (70k real images) from the original IDX files (Debian's dataset-fashion-mnist; set
--config.data.manual_dir="" for TFDS), resized to 32×32; the digits config's small heads.

Tuned on the validation split (`data.validation_size=10000`, never the test images) at the 4-epoch budget:
contrast jitter 0.6 (not 0.2), the change that helped SimCLR, VICReg, Barlow Twins and BYOL on these grey
images. Fine-tuned at 10 labels per class, labelled draws 0 and 1: 0.715 / 0.714 against 0.644 / 0.644 before
(+7.0 points); at 1 label per class 0.494 / 0.480 against 0.508 / 0.482 (-0.8). On the test images, with the
three encoders trained again: 0.687 → 0.700 at 10 labels per class, 0.557 → 0.572 at 1, 0.798 → 0.794 at 100
(experiments/results/fashion_mnist/ and its validation notes have the runs).

Carried over from the digits config, not tuned on Fashion-MNIST: BatchNorm in the head (`use_bn_in_head`;
without it DINO collapsed on digits, the untrained ConvNet's features being nearly the same for every image),
teacher temperature 0.04 from the start and 256 prototypes. The momentum stays 0.99 → 1: digits' 0.9 was
for 90-step runs, where a 0.99 teacher barely moves."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("dino"), "fashion_mnist")
  config.batch_size = 256
  config.dino.hidden_dims, config.dino.bottleneck, config.dino.num_prototypes = (512,), 128, 256
  config.dino.use_bn_in_head = True
  config.dino.base_momentum = 0.99
  config.dino.teacher_temperature = config.dino.warmup_teacher_temperature = 0.04
  config.augment.contrast = 0.6
  return config
