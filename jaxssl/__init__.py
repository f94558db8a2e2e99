"""jaxssl: self- and semi-supervised representation learning on images with JAX and Flax NNX.

Import the parts you need (`from jaxssl import losses, models, data, evaluate`); importing them parses no
flags and touches no accelerator. `jaxssl.train` is the runner (it hides accelerators from TensorFlow).
"""
__version__ = "0.1.0"
