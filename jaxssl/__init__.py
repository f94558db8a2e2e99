"""jaxssl: self- and semi-supervised representation learning on images with JAX and Flax NNX.

Import the parts you need (`from jaxssl import losses, models, data, evaluate`); importing them parses no
flags and touches no accelerator. `jaxssl.train_and_evaluate(config, workdir)` runs a training job, and
`jaxssl.load_encoder(workdir)` brings a trained encoder into your code. `jaxssl.register_method`,
`register_encoder` and `register_source` add your own components by name, from your own module
(docs/extending.md). TensorFlow is imported only to read TFDS datasets and image folders
(`pip install 'jaxssl[tfds]'`).
"""
__version__ = "0.1.0"


_REGISTRIES = {"register_method": ("jaxssl.methods", "register_method"),
               "register_encoder": ("jaxssl.models", "register_encoder"),
               "register_source": ("jaxssl.data.sources", "register_source")}


def __getattr__(name: str):
  """`train_and_evaluate`, `load_encoder` and the `register_*` functions, imported on first use (so
  `import jaxssl` stays light)."""
  if name in _REGISTRIES:
    import importlib  # pylint: disable=g-import-not-at-top

    module, attribute = _REGISTRIES[name]
    return getattr(importlib.import_module(module), attribute)
  if name == "train_and_evaluate":
    from jaxssl.train import train_and_evaluate
    return train_and_evaluate
  if name == "load_encoder":
    from jaxssl.pretrained import load_encoder
    return load_encoder
  raise AttributeError(f"module 'jaxssl' has no attribute {name!r}")


__all__ = ["load_encoder", "register_encoder", "register_method", "register_source", "train_and_evaluate"]
