"""Training methods by name (`config.method`). Adding one = a module here + an entry in METHODS + a config."""
import ml_collections

from jaxssl.methods.barlow_twins import BarlowTwins
from jaxssl.methods.base import Method
from jaxssl.methods.byol import BYOL
from jaxssl.methods.dino import DINO
from jaxssl.methods.fixmatch import FixMatch
from jaxssl.methods.moco_v3 import MoCoV3
from jaxssl.methods.paws import PAWS
from jaxssl.methods.rotnet import RotNet
from jaxssl.methods.sesemi import SESEMI
from jaxssl.methods.simclr import SimCLR
from jaxssl.methods.suncet import SuNCEt
from jaxssl.methods.supervised import Supervised
from jaxssl.methods.vae import VAE, SiameseVAE
from jaxssl.methods.vicreg import VICReg

METHODS: dict[str, type[Method]] = {
    "supervised": Supervised, "simclr": SimCLR, "suncet": SuNCEt, "paws": PAWS, "sesemi": SESEMI,
    "rotnet": RotNet, "vae": VAE, "siamese_vae": SiameseVAE, "byol": BYOL, "moco_v3": MoCoV3, "dino": DINO,
    "vicreg": VICReg, "barlow_twins": BarlowTwins, "fixmatch": FixMatch}


def get(name: str) -> type[Method]:
  """Returns the method class called `name`; an unknown name raises with the list of valid names."""
  if name not in METHODS:
    raise ValueError(f"unknown method {name!r}; config.method must be one of {sorted(METHODS)}.")
  return METHODS[name]


def create(config: ml_collections.ConfigDict) -> Method:
  """The method named by `config.method`, configured by `config`."""
  return get(config.method)(config)


__all__ = ["METHODS", "Method", "create", "get"]
