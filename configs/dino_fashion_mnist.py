"""DINO on Fashion-MNIST (70k real images) from the original IDX files (Debian's dataset-fashion-mnist; set
--config.data.manual_dir="" for TFDS), resized to 32×32; the digits config's small heads.

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
  return config
