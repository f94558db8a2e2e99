"""Encoders by name (`config.model.name`) and heads. Every encoder is a `layers.Encoder`: it maps images
[B, H, W, C] (float, [0, 1]) and `train` to float32 features [B, encoder.features] (what methods train on),
and `encoder.representation(images)` is what kNN, the probe and fine-tuning read."""
from typing import Callable

import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxssl.models import alexnet, resnet, vit, wrn
from jaxssl.models.convnet import ConvNet
from jaxssl.models.heads import MLP, EncoderAndHead
from jaxssl.models.layers import Encoder, set_batch_axis
from jaxssl.models.vae import VAE, ConvDecoder, GaussianEncoder

CIFAR_STEM_MAX_SIZE = 64  # stem="auto": images up to this size get the CIFAR stem.


def resnet_stem(model_config: ml_collections.ConfigDict, image_size: int) -> str:
  """config.model.stem, with "auto" resolved: "cifar" for images of at most 64 px, else "imagenet"."""
  if model_config.stem != "auto":
    return model_config.stem
  return "cifar" if image_size <= CIFAR_STEM_MAX_SIZE else "imagenet"


def _convnet(c, in_channels, image_size, **kw):
  del kw["axis_name"]  # No BatchNorm.
  return ConvNet(in_channels, image_size, width=c.width if c.width > 0 else 128, features=c.features,
                 final_relu=c.final_relu, **kw)


def _resnet(build):
  def builder(c, in_channels, image_size, **kw):
    return build(in_channels, stem=resnet_stem(c, image_size), width=c.width if c.width > 0 else 64,
                 zero_init_residual=c.zero_init_residual, **kw)
  return builder


def _wrn28_2(c, in_channels, image_size, **kw):
  del c, image_size  # Fully convolutional, fixed layout.
  return wrn.WideResNet(28, 2, in_channels, **kw)


def _alexnet(c, in_channels, image_size, **kw):
  return alexnet.AlexNet(in_channels, image_size, feature_layer=c.feature_layer, **kw)


def _vit(preset):
  def builder(c, in_channels, image_size, **kw):
    del kw["axis_name"]  # No BatchNorm.
    p = vit.PRESETS[preset]
    return vit.ViT(in_channels, image_size, patch_size=c.patch_size, width=c.width if c.width > 0 else p["width"],
                   depth=c.depth if c.depth > 0 else p["depth"],
                   num_heads=c.num_heads if c.num_heads > 0 else p["num_heads"], **kw)
  return builder


# name -> builder(model_config, in_channels, image_size, *, dtype, axis_name, rngs).
ENCODERS: dict[str, Callable[..., Encoder]] = {
    "convnet": _convnet, "resnet18": _resnet(resnet.resnet18), "resnet50": _resnet(resnet.resnet50),
    "wrn28_2": _wrn28_2, "alexnet": _alexnet, "vit_tiny": _vit("vit_tiny"), "vit_small": _vit("vit_small")}
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def get(name: str) -> Callable[..., Encoder]:
  """Returns the builder of encoder `name`; an unknown name raises with the list of valid names."""
  if name not in ENCODERS:
    raise ValueError(f"unknown encoder {name!r}; config.model.name must be one of {sorted(ENCODERS)}.")
  return ENCODERS[name]


def compute_dtype(name: str):
  """The jnp dtype of config.dtype ("float32" or "bfloat16"); anything else raises."""
  if name not in DTYPES:
    raise ValueError(f"unknown config.dtype {name!r}; use one of {sorted(DTYPES)}.")
  return DTYPES[name]


def build_encoder(model_config: ml_collections.ConfigDict, in_channels: int, image_size: int, rngs: nnx.Rngs, *,
                  dtype: str = "float32", axis_name: str | None = None) -> Encoder:
  """The encoder named by `model_config.name` for images [image_size, image_size, in_channels], computing in
  `dtype` with float32 parameters; its BatchNorm layers (if any) average batch statistics over `axis_name`
  (None: over this device's batch only — for use outside a shard_map)."""
  return get(model_config.name)(model_config, in_channels, image_size, dtype=compute_dtype(dtype),
                                axis_name=axis_name, rngs=rngs)


__all__ = ["ConvDecoder", "ConvNet", "ENCODERS", "Encoder", "EncoderAndHead", "GaussianEncoder", "MLP", "VAE",
           "build_encoder", "compute_dtype", "get", "set_batch_axis"]
