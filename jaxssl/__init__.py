"""jaxssl: self- and semi-supervised representation learning on images with JAX and Flax NNX.

Import the parts you need (`from jaxssl import losses, models, data, evaluate`); importing them parses no
flags and touches no accelerator. `jaxssl.train_and_evaluate(config, workdir)` runs a training job, and
`jaxssl.load_encoder(workdir)` brings a trained encoder into your code. TensorFlow is imported only to read
TFDS datasets and image folders (`pip install 'jaxssl[tfds]'`).
"""
__version__ = "0.1.0"


def __getattr__(name: str):
  """`train_and_evaluate` and `load_encoder`, imported on first use (so `import jaxssl` stays light)."""
  if name == "train_and_evaluate":
    from jaxssl.train import train_and_evaluate
    return train_and_evaluate
  if name == "load_encoder":
    from jaxssl.pretrained import load_encoder
    return load_encoder
  raise AttributeError(f"module 'jaxssl' has no attribute {name!r}")
