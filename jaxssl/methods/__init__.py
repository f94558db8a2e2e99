"""Training methods by name (`config.method`): the built-in ones below, and any that user code adds with
`register_method` (also `jaxssl.register_method`) without editing jaxssl. A method owns its config section
`config.<name>` (its `default_config()`); see docs/extending.md."""
import keyword
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


def register_method(name: str, cls: type[Method] | None = None, *, replace: bool = False):
  """Registers the Method subclass `cls` as `config.method = name`; its `default_config()` becomes the
  section `config.<name>` of `config.base_config(name)`. A decorator (`@register_method("mine")`) or a
  plain call (`register_method("mine", Mine)`); returns `cls`. A name already registered raises ValueError
  unless `replace=True`."""
  def register(cls: type[Method]) -> type[Method]:
    from jaxssl import config as config_lib  # pylint: disable=g-import-not-at-top  (config imports this module)

    if not (isinstance(cls, type) and issubclass(cls, Method)):
      raise TypeError(f"register_method({name!r}) takes a subclass of jaxssl.methods.Method, got {cls!r}.")
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
      raise ValueError(f"method name {name!r} must be a Python identifier: it names the config section "
                       f"config.<name>.")
    if name in config_lib.shared_keys():
      raise ValueError(f"method name {name!r} would hide config.{name}; choose another name.")
    config_lib.check_new_name(METHODS, "method", name, cls, replace)
    METHODS[name] = cls
    return cls
  return register if cls is None else register(cls)


def get(name: str) -> type[Method]:
  """Returns the method class called `name`; an unknown name raises with the list of valid names."""
  if name not in METHODS:
    from jaxssl.config import NOT_FOUND_HINT  # pylint: disable=g-import-not-at-top  (config imports this module)
    raise ValueError(f"unknown method {name!r}; config.method must be one of {sorted(METHODS)}. {NOT_FOUND_HINT}")
  return METHODS[name]


def create(config: ml_collections.ConfigDict) -> Method:
  """The method named by `config.method`, configured by `config`."""
  return get(config.method)(config)


__all__ = ["METHODS", "Method", "create", "get", "register_method"]
