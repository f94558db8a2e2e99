"""Encoders by name (`config.model.name`) and heads. Every encoder maps images [B, H, W, C] (float, [0, 1])
and `train` to features [B, encoder.features]: the representation that kNN, the probe and fine-tuning use."""
from typing import Callable

import ml_collections
from flax import nnx

from jaxssl.models.convnet import ConvNet
from jaxssl.models.heads import MLP, EncoderAndHead
from jaxssl.models.vae import VAE, ConvDecoder, GaussianEncoder


def _convnet(model_config: ml_collections.ConfigDict, in_channels: int, image_size: int, rngs: nnx.Rngs):
  return ConvNet(in_channels, image_size, width=model_config.width, features=model_config.features,
                 final_relu=model_config.final_relu, rngs=rngs)


ENCODERS: dict[str, Callable[..., nnx.Module]] = {"convnet": _convnet}


def get(name: str) -> Callable[..., nnx.Module]:
  """Returns the builder of encoder `name`; an unknown name raises with the list of valid names."""
  if name not in ENCODERS:
    raise ValueError(f"unknown encoder {name!r}; config.model.name must be one of {sorted(ENCODERS)}.")
  return ENCODERS[name]


def build_encoder(model_config: ml_collections.ConfigDict, in_channels: int, image_size: int,
                  rngs: nnx.Rngs) -> nnx.Module:
  """Builds the encoder named by `model_config.name` for images of shape [image_size, image_size, in_channels]."""
  return get(model_config.name)(model_config, in_channels, image_size, rngs)


__all__ = ["ConvDecoder", "ConvNet", "ENCODERS", "EncoderAndHead", "GaussianEncoder", "MLP", "VAE", "build_encoder", "get"]
