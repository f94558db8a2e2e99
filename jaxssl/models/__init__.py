"""Encoders by name (`config.model.name`) and heads. Every encoder is a `layers.Encoder`: it maps images
[B, H, W, C] (float, [0, 1]) and `train` to float32 features [B, encoder.features] (what methods train on),
and `encoder.representation(images)` is what kNN, the probe and fine-tuning read.

Each encoder is registered with the options it reads from `config.model` and their defaults
(`register_encoder(name, builder, defaults=...)`, also `jaxssl.register_encoder` for user code); the
`config.model` of `config.base_config` holds every registered encoder's options (`default_config()`).
"""
from typing import Callable

import jax.numpy as jnp
import ml_collections
from flax import nnx

from jaxssl.models import alexnet, flax_fixes, resnet, vit, wrn
from jaxssl.models.convnet import ConvNet
from jaxssl.models.heads import MLP, EncoderAndHead
from jaxssl.models.layers import Encoder, set_batch_axis
from jaxssl.models.vae import VAE, ConvDecoder, GaussianEncoder

flax_fixes.apply()

CIFAR_STEM_MAX_SIZE = 64  # stem="auto": images up to this size get the CIFAR stem.


def resnet_stem(model_config: ml_collections.ConfigDict, image_size: int) -> str:
  """config.model.stem, with "auto" resolved: "cifar" for images of at most 64 px, else "imagenet"."""
  if model_config.stem != "auto":
    return model_config.stem
  return "cifar" if image_size <= CIFAR_STEM_MAX_SIZE else "imagenet"


def _convnet(c, in_channels, image_size, **kw):
  del kw["axis_name"]  # No BatchNorm.
  return ConvNet(in_channels, image_size, width=c.width if c.width > 0 else 128, features=c.features,
                 final_relu=c.final_relu, feature_layer=c.feature_layer, **kw)


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


# name -> builder(model_config, in_channels, image_size, *, dtype, axis_name, rngs) -> Encoder.
ENCODERS: dict[str, Callable[..., Encoder]] = {}
# name -> the options (config.model.<option>) its builder reads, with their defaults.
ENCODER_DEFAULTS: dict[str, dict] = {}
DEFAULT_ENCODER = "convnet"


def _check_options(name: str, defaults: dict) -> None:
  """Raises ValueError unless `defaults` are new options of config.model, or ones another encoder already
  declares with the same default (config.model is one flat section that every encoder shares)."""
  for key, value in defaults.items():
    if not isinstance(key, str) or not key.isidentifier() or key == "name":
      raise ValueError(f"encoder {name!r}: option {key!r} must be an identifier other than 'name' (it is the "
                       "key config.model.<option>).")
    for other, options in ENCODER_DEFAULTS.items():
      if other != name and key in options and options[key] != value:
        raise ValueError(f"encoder {name!r}: config.model.{key} is already an option of encoder {other!r} with "
                         f"default {options[key]!r}, not {value!r}; give yours another name (e.g. "
                         f"'{name}_{key}') or the same default.")


def register_encoder(name: str, builder: Callable[..., Encoder] | None = None, *, defaults: dict | None = None,
                     replace: bool = False):
  """Registers `builder` as `config.model.name = name`, with the options it reads from config.model and their
  `defaults` (they join config.model in every `config.base_config` made after this). A decorator
  (`@register_encoder("mine", defaults={...})`) or a plain call (`register_encoder("mine", build, ...)`);
  returns `builder`. A name already registered raises ValueError unless `replace=True`.

  `builder(model_config, in_channels, image_size, *, dtype, axis_name, rngs)` returns a `layers.Encoder` for
  images [image_size, image_size, in_channels]: compute dtype `dtype` (float32 parameters), BatchNorm
  statistics averaged over `axis_name` (ignore it without BatchNorm). `model_config` is config.model, with
  this encoder's defaults filled in for any option it lacks (a config built before the registration)."""
  def register(builder: Callable[..., Encoder]) -> Callable[..., Encoder]:
    from jaxssl import config as config_lib  # pylint: disable=g-import-not-at-top  (config imports models)

    if not callable(builder):
      raise TypeError(f"register_encoder({name!r}) takes a builder function, got {builder!r}.")
    if not isinstance(name, str) or not name:
      raise ValueError(f"an encoder name must be a non-empty string, got {name!r}.")
    config_lib.check_new_name(ENCODERS, "encoder", name, builder, replace)
    options = dict(defaults or {})
    _check_options(name, options)
    ENCODERS[name], ENCODER_DEFAULTS[name] = builder, options
    return builder
  return register if builder is None else register(builder)


register_encoder("convnet", _convnet, defaults={
    "width": -1,            # Channels of every conv; -1: 128. (ResNets: base width, -1: 64; ViTs: -1: the preset's.)
    "features": 128,        # Size of the final Dense.
    "final_relu": False,    # ReLU on the final Dense (the Keras SimCLR example).
    "feature_layer": "fc"})  # The layer evaluation reads: "conv1".."conv4" or "fc" (AlexNet: .."conv5").
for _name, _build in (("resnet18", resnet.resnet18), ("resnet50", resnet.resnet50)):
  register_encoder(_name, _resnet(_build), defaults={
      "width": -1,
      "stem": "auto",                # "imagenet", "cifar", or "auto" (cifar for images <= 64 px).
      "zero_init_residual": False})  # γ = 0 in each residual branch's last BatchNorm.
register_encoder("wrn28_2", _wrn28_2)  # Fixed layout: no options.
register_encoder("alexnet", _alexnet, defaults={
    "feature_layer": "fc"})
for _name in ("vit_tiny", "vit_small"):
  register_encoder(_name, _vit(_name), defaults={
      "patch_size": 4,  # Patch side in pixels (4 at 32 px: 64 patches; 16 at 224 px).
      "width": -1,      # -1: the preset's (tiny 192, small 384).
      "depth": -1,      # Blocks; -1: the preset's (12).
      "num_heads": -1})  # Attention heads; -1: the preset's (tiny 3, small 6).
del _name, _build


def check_feature_layer(encoder: Encoder, feature_layer: str, where: str) -> None:
  """Raises ValueError unless `encoder` reads `feature_layer` ("fc", the default, reads its representation
  whatever it is). Only encoders with a `feature_layer` attribute (the ConvNet and AlexNet) read another layer;
  a VAE's encoder reads its posterior mean, whatever its backbone."""
  reads = getattr(encoder, "feature_layer", None)
  if feature_layer != "fc" and reads != feature_layer:
    what = f"is built to read {reads!r}" if reads else "reads no model.feature_layer"
    raise ValueError(f"{where}={feature_layer!r}: this {type(encoder).__name__} {what} (the convnet and alexnet "
                     "encoders read the one they are built with, outside a VAE); leave it at 'fc' to read its "
                     "representation.")


def default_config() -> ml_collections.ConfigDict:
  """config.model's defaults: `name` and every registered encoder's options, in registration order."""
  c = ml_collections.ConfigDict({"name": DEFAULT_ENCODER})
  for options in ENCODER_DEFAULTS.values():
    for key, value in options.items():
      if key not in c:
        c[key] = value
  return c


DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def get(name: str) -> Callable[..., Encoder]:
  """Returns the builder of encoder `name`; an unknown name raises with the list of valid names."""
  if name not in ENCODERS:
    from jaxssl.config import NOT_FOUND_HINT  # pylint: disable=g-import-not-at-top
    raise ValueError(f"unknown encoder {name!r}; config.model.name must be one of {sorted(ENCODERS)}. "
                     f"{NOT_FOUND_HINT}")
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
  (None: over this device's batch only — for use outside a shard_map). Options of the encoder that
  `model_config` lacks (it was made before the encoder was registered, or saved before an option existed)
  take the encoder's registered defaults."""
  builder = get(model_config.name)
  missing = {k: v for k, v in ENCODER_DEFAULTS.get(model_config.name, {}).items() if k not in model_config}
  if missing:
    model_config = ml_collections.ConfigDict({**model_config.to_dict(), **missing})
  return builder(model_config, in_channels, image_size, dtype=compute_dtype(dtype), axis_name=axis_name, rngs=rngs)


__all__ = ["ConvDecoder", "ConvNet", "ENCODERS", "ENCODER_DEFAULTS", "Encoder", "EncoderAndHead", "GaussianEncoder",
           "MLP", "VAE", "build_encoder", "check_feature_layer", "compute_dtype", "default_config", "get",
           "register_encoder", "set_batch_axis"]
