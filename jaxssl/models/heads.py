"""Heads that sit on an encoder's features."""
import jax
from flax import nnx


class MLP(nnx.Module):
  """Dense -> ReLU -> ... -> Dense: the SimCLR projection head. [B, in] -> [B, dims[-1]]; with no `dims`,
  the identity (the seeds' methods that put their loss on the encoder's features)."""

  def __init__(self, in_features: int, dims: tuple[int, ...], *, rngs: nnx.Rngs):
    sizes = (in_features, *dims)
    self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])

  def __call__(self, x: jax.Array) -> jax.Array:
    if not self.layers:
      return x
    for layer in self.layers[:-1]:
      x = nnx.relu(layer(x))
    return self.layers[-1](x)


class EncoderAndHead(nnx.Module):
  """An encoder with one head on its features: `encoder` is the representation, `head` what a method trains."""

  def __init__(self, encoder: nnx.Module, head: nnx.Module):
    self.encoder = encoder
    self.head = head

  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    return self.head(self.encoder(images, train=train))
