"""Training methods by name (`config.method`). Adding one = a module here + an entry in METHODS + a config."""
import ml_collections

from jaxssl.methods.base import Method
from jaxssl.methods.simclr import SimCLR
from jaxssl.methods.supervised import Supervised

METHODS: dict[str, type[Method]] = {"supervised": Supervised, "simclr": SimCLR}


def get(name: str) -> type[Method]:
  """Returns the method class called `name`; an unknown name raises with the list of valid names."""
  if name not in METHODS:
    raise ValueError(f"unknown method {name!r}; config.method must be one of {sorted(METHODS)}.")
  return METHODS[name]


def create(config: ml_collections.ConfigDict) -> Method:
  """The method named by `config.method`, configured by `config`."""
  return get(config.method)(config)


__all__ = ["METHODS", "Method", "create", "get"]
