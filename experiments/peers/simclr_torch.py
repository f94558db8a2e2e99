"""The SimCLR train step of `experiments/benchmark.py` written with PyTorch, for a side-by-side speed comparison
(run by the benchmark in its own process; not part of the library).

Same step as `simclr_tf.py` and jaxssl's `configs/simclr_stl10.py`: two views of every uint8 image (random
resized crop of 25-100% area, aspect 3/4-4/3, and horizontal flip as one bilinear `grid_sample`; colour jitter
with probability 0.8: brightness 0.6, contrast and saturation 0.2, hue 0.2 as a rotation in YIQ space, since
torch has no batched HSV op; greyscale with probability 0.2), the Keras baselines' convnet (4 × Conv 3×3/2
VALID ReLU, width 128, Dense(128) ReLU), projector Linear(128) ReLU -> Linear(128), NT-Xent at T=0.1 over
the 2B views, Adam 1e-3. Eager PyTorch (`torch.compile` with `--compile`); host batches are fed as uint8
NumPy arrays and copied to `--device` in the step (on a GPU from pinned memory, without waiting: the next
step's work queues while the GPU runs, as jaxssl's prefetched copies do), and the step never waits on the GPU.

`--model=resnet18`: the step of the benchmark's accelerator rows instead (`configs/simclr_stl10.py` with
ResNet-18 and the CIFAR stem at 32 px): torchvision's ResNet-18 layout with a 3×3/1 stem conv and no max-pool
(bias-free convs, BatchNorm, global average pool, 512 features; 11,168,832 parameters, as jaxssl's), projector
Linear(128) ReLU Linear(128). `--dtype=bfloat16`: the forward pass under CUDA/CPU autocast in bfloat16 (the
views and the loss in float32), PyTorch's usual mixed precision (parameters and optimizer in float32, as jaxssl's
`config.dtype`). On a GPU: channels-last memory and fused Adam in both dtypes, and in float32 TF32 for
matmuls as for convolutions, the precision XLA uses for float32 there by default.

  python experiments/peers/simclr_torch.py --batch_size=512 --image_size=96 --steps=3 --repeats=3
  python experiments/peers/simclr_torch.py --model=resnet18 --image_size=32 --device=cuda --dtype=bfloat16

Prints one JSON line: images/s (unlabelled images a second; each gets 2 views), step and first-step seconds.
"""
import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

GREY = torch.tensor([0.299, 0.587, 0.114])
RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_CONSTANTS = {}


def constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
  """(grey weights, RGB->YIQ, YIQ->RGB) on `device`, copied there once (a copy in the step would wait for the
  GPU)."""
  if device not in _CONSTANTS:
    _CONSTANTS[device] = tuple(t.to(device) for t in (GREY, RGB_TO_YIQ, torch.linalg.inv(RGB_TO_YIQ)))
  return _CONSTANTS[device]


def encoder_and_projector(image_size: int, channels: int, width: int = 128, features: int = 128) -> nn.Module:
  layers, size = [], image_size
  for c_in in [channels] + [width] * 3:
    layers += [nn.Conv2d(c_in, width, 3, stride=2), nn.ReLU()]
    size = (size - 3) // 2 + 1
  return nn.Sequential(*layers, nn.Flatten(), nn.Linear(size * size * width, features), nn.ReLU(),
                       nn.Linear(features, 128), nn.ReLU(), nn.Linear(128, 128))


class BasicBlock(nn.Module):
  """relu(conv3×3(stride)-BN-ReLU-conv3×3-BN + shortcut(x)), as jaxssl.models.resnet.BasicBlock."""

  def __init__(self, c_in: int, width: int, stride: int):
    super().__init__()
    self.a = nn.Sequential(nn.Conv2d(c_in, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
    self.b = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
    self.shortcut = (nn.Identity() if stride == 1 and c_in == width else
                     nn.Sequential(nn.Conv2d(c_in, width, 1, stride, bias=False), nn.BatchNorm2d(width)))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.relu(self.b(self.a(x)) + self.shortcut(x))


def resnet18_cifar_and_projector(channels: int, width: int = 64) -> nn.Module:
  """ResNet-18 with the CIFAR stem (3×3/1 conv, no max-pool) -> [B, 512] -> Linear(128) ReLU Linear(128)."""
  layers, c_in = [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()], width
  for stage in range(4):
    for block in range(2):
      layers.append(BasicBlock(c_in, width * 2 ** stage, 2 if stage > 0 and block == 0 else 1))
      c_in = width * 2 ** stage
  return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 128), nn.ReLU(),
                       nn.Linear(128, 128))


def views(images: torch.Tensor, size: int) -> torch.Tensor:
  """uint8 [B, 3, H, W] -> float32 views [B, 3, size, size] in [0, 1], on the images' device."""
  batch, device = images.shape[0], images.device
  u = lambda lo, hi, *shape: torch.empty(batch, *shape, device=device).uniform_(lo, hi)  # noqa: E731
  area, aspect = u(0.25, 1.0), torch.exp(u(math.log(3 / 4), math.log(4 / 3)))
  w, h = torch.sqrt(area * aspect).clamp(max=1.0), torch.sqrt(area / aspect).clamp(max=1.0)
  cx, cy = (u(0, 1) * 2 - 1) * (1 - w), (u(0, 1) * 2 - 1) * (1 - h)
  flip = torch.where(u(0, 1) < 0.5, -1.0, 1.0)
  zero = torch.zeros(batch, device=device)
  theta = torch.stack([torch.stack([w * flip, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)
  grid = F.affine_grid(theta, (batch, 3, size, size), align_corners=False)
  x = F.grid_sample(images.float() / 255.0, grid, mode="bilinear", align_corners=False)
  jit = x + u(-0.6, 0.6, 1, 1, 1)
  mean = jit.mean((1, 2, 3), keepdim=True)
  jit = (jit - mean) * u(0.8, 1.2, 1, 1, 1) + mean
  grey_weights, yiq, yiq_inverse = constants(device)
  grey = torch.einsum("bchw,c->bhw", jit.clamp(0, 1), grey_weights)[:, None]
  jit = (jit - grey) * u(0.8, 1.2, 1, 1, 1) + grey
  angle = u(-0.2, 0.2) * 2 * math.pi
  cos, sin, one = torch.cos(angle), torch.sin(angle), torch.ones(batch, device=device)
  rotate = torch.stack([torch.stack([one, zero, zero], 1), torch.stack([zero, cos, -sin], 1),
                        torch.stack([zero, sin, cos], 1)], 1)
  hue = yiq_inverse @ rotate @ yiq  # [B, 3, 3]
  jit = torch.einsum("bij,bjhw->bihw", hue, jit.clamp(0, 1)).clamp(0, 1)
  x = torch.where(u(0, 1, 1, 1, 1) < 0.8, jit, x)
  grey = torch.einsum("bchw,c->bhw", x, grey_weights)[:, None].expand_as(x)
  return torch.where(u(0, 1, 1, 1, 1) < 0.2, grey, x)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
  z = F.normalize(torch.cat([z1, z2]), dim=1)
  n = z1.shape[0]
  logits = z @ z.T / temperature - 1e9 * torch.eye(2 * n, device=z.device)
  return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n, device=z.device), torch.arange(n, device=z.device)]))


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--batch_size", type=int, default=512)
  parser.add_argument("--image_size", type=int, default=96)
  parser.add_argument("--model", default="convnet", choices=("convnet", "resnet18"))
  parser.add_argument("--device", default="cpu", help="cpu or cuda")
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
  parser.add_argument("--steps", type=int, default=3, help="steps per timed repeat")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--compile", action="store_true", help="torch.compile the model")
  args = parser.parse_args()
  torch.manual_seed(0)
  device = torch.device(args.device)
  cuda = device.type == "cuda"
  torch.backends.cudnn.benchmark = True  # Picks the fastest convolution algorithms for the step's fixed shapes.
  torch.backends.cuda.matmul.allow_tf32 = True  # As cuDNN's convolutions (PyTorch's default) and XLA's float32.
  model = (resnet18_cifar_and_projector(3) if args.model == "resnet18" else encoder_and_projector(args.image_size, 3))
  layout = torch.channels_last if cuda or args.dtype == "bfloat16" else torch.contiguous_format
  model = model.to(device, memory_format=layout)
  forward = torch.compile(model) if args.compile else model
  optimizer = torch.optim.Adam(model.parameters(), 1e-3, fused=cuda)
  autocast = torch.autocast(device.type, torch.bfloat16, enabled=args.dtype == "bfloat16")
  sync = torch.cuda.synchronize if cuda else lambda: None

  def train_step(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images)  # The host batch is NHWC uint8, as jaxssl's.
    x = (x.pin_memory().to(device, non_blocking=True) if cuda else x).permute(0, 3, 1, 2)
    v1, v2 = (views(x, args.image_size).contiguous(memory_format=layout) for _ in range(2))
    with autocast:
      z1, z2 = forward(v1), forward(v2)
    loss = nt_xent(z1.float(), z2.float())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()

  rng = np.random.default_rng(0)
  pool = rng.integers(0, 256, (2 * args.batch_size, args.image_size, args.image_size, 3), np.uint8)
  batch = lambda: pool[rng.choice(len(pool), args.batch_size, replace=False)]  # noqa: E731
  start = time.perf_counter()
  train_step(batch())
  sync()
  first_s = time.perf_counter() - start
  train_step(batch())  # Warm-up.
  sync()
  times = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    for _ in range(args.steps):
      loss = train_step(batch())
    sync()
    times.append((time.perf_counter() - start) / args.steps)
  step_s = statistics.median(times)
  print(json.dumps({"library": f"pytorch {torch.__version__}" + (" (torch.compile)" if args.compile else ""),
                    "model": args.model, "image_size": args.image_size, "device": str(device), "dtype": args.dtype,
                    "parameters": sum(p.numel() for p in model.parameters()), "step_s": step_s,
                    "images_per_s": args.batch_size / step_s, "first_step_s": first_s, "loss": float(loss),
                    "threads": torch.get_num_threads()}))


if __name__ == "__main__":
  main()
