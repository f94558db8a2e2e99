"""DINO with a ViT-Tiny on CIFAR-10 (TFDS): the paper's ViT recipe (Caron et al. 2021; AdamW, lr 5e-4 ×
batch / 256, weight decay 0.04, 10 warm-up epochs then cosine, teacher temperature 0.04 -> 0.07 over the first
30% of the run, student 0.1, momentum 0.996 -> 1, center momentum 0.9, 2 global + local crops) at CIFAR's
size: 32 px global crops with patch 4 (64 patches), 4 local crops of 16 px (area 0.05–0.4), 4096 prototypes,
batch 256, 200 epochs. Differs from the paper: constant weight decay (it raises 0.04 -> 0.4), no
solarisation, and the prototypes are not frozen during the first epoch."""
from jaxssl.config import base_config, use_dataset


def get_config():
  config = use_dataset(base_config("dino"), "cifar10")
  config.model.name, config.model.patch_size = "vit_tiny", 4
  config.batch_size = 256
  config.num_train_steps = 39_063  # 200 epochs of 50k images.
  config.eval_every_steps = config.checkpoint_every_steps = 2_000
  config.optimizer.name, config.optimizer.learning_rate, config.optimizer.weight_decay = "adamw", 5e-4, 0.04
  config.optimizer.schedule, config.optimizer.warmup_steps = "cosine", 1_953
  a = config.augment
  a.crop_scale, a.jitter_prob, a.grayscale_prob = (0.4, 1.0), 0.8, 0.2
  a.brightness, a.contrast, a.saturation, a.hue = 0.4, 0.4, 0.2, 0.1
  d = config.dino
  d.teacher_temperature, d.warmup_teacher_temperature, d.teacher_warmup_fraction = 0.07, 0.04, 0.3
  d.local_crops, d.local_size, d.local_scale = 4, 16, (0.05, 0.4)
  return config
