"""Heads that sit on an encoder's features."""
import jax
from flax import nnx

from jaxssl.models.layers import DENSE_INIT


class MLP(nnx.Module):
  """Dense -> [BatchNorm ->] ReLU -> ... -> Dense: [B, in] -> [B, dims[-1]]; the SimCLR projector
  (`batch_norm=True`: SimCLR v2 / PAWS style, with statistics over `axis_name`), RotNet's rotation head, PAWS's
  prediction head. With no `dims`, the identity (the seeds' methods that put their loss on the features).
  Runs in float32."""

  def __init__(self, in_features: int, dims: tuple[int, ...], *, batch_norm: bool = False,
               axis_name: str | None = None, rngs: nnx.Rngs):
    sizes = (in_features, *dims)
    self.layers = nnx.List([nnx.Linear(a, b, use_bias=not batch_norm or i == len(dims) - 1, kernel_init=DENSE_INIT,
                                       rngs=rngs)
                            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))])
    self.norms = nnx.List([nnx.BatchNorm(b, momentum=0.9, axis_name=axis_name, rngs=rngs)
                           for b in dims[:-1]] if batch_norm else [])

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if not self.layers:
      return x
    for i, layer in enumerate(self.layers[:-1]):
      x = layer(x)
      x = self.norms[i](x, use_running_average=not train) if self.norms else x
      x = nnx.relu(x)
    return self.layers[-1](x)


class EncoderAndHead(nnx.Module):
  """An encoder with one head on its features: `encoder` is the representation, `head` what a method trains."""

  def __init__(self, encoder: nnx.Module, head: nnx.Module):
    self.encoder = encoder
    self.head = head

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    return self.head(self.encoder(images, train=train), train=train)
