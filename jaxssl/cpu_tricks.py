"""Every speed trick jaxssl plays for XLA:CPU, in one place, and the one setting that switches them all.

The tricks (each measured in `experiments/benchmark.py`; none changes a result beyond float rounding):
- `models/conv.py`: a 2-D convolution whose filter gradient and strided passes run as matmuls (XLA:CPU runs
  its own convolution gradients far below its matmul rate);
- `evaluate.py`: kNN's top-k behind an optimisation barrier (fused with exp() XLA:CPU turned it into a full
  sort), and the linear probe's classes padded to a multiple of 8 (XLA:CPU's GEMMs are slow at width 10);
- `main.py`: the command line restarts itself with glibc's malloc on transparent huge pages.

They apply only where JAX computes on the CPU: the model and evaluation code asks `active()` when it is
traced, so a program traced on a GPU or TPU host holds none of them, and the convolution also sits behind
`lax.platform_dependent`, so a program lowered for "cuda" or "tpu" on a CPU host (`jax.export`) holds only
XLA's own convolution. The huge-page restart happens before JAX starts, so it asks `huge_pages_wanted()`,
which looks for installed accelerator plugins instead.

Setting: the environment variable JAXSSL_CPU_TRICKS=0 turns every trick off (read at import; tests and
benchmarks flip `ENABLED`).

Known limit: the CPU convolution is a `jax.custom_vjp`, so forward-mode AD through an encoder (`jax.jvp`,
`jax.linearize`, `jax.jacfwd`) raises on the CPU unless JAXSSL_CPU_TRICKS=0; reverse mode (and a Hessian-vector
product as jvp of grad) works. On GPUs and TPUs nothing here is traced, and forward mode works.
"""
import importlib.metadata
import importlib.util
import os
import pkgutil

ENABLED = os.environ.get("JAXSSL_CPU_TRICKS", "1") != "0"


def active() -> bool:
  """Whether code traced now should use the CPU tricks: they are enabled and JAX's default backend is the CPU."""
  import jax  # pylint: disable=g-import-not-at-top
  return ENABLED and jax.default_backend() == "cpu"


def accelerator_plugins() -> list[str]:
  """Names of the installed JAX accelerator plugins (CUDA, ROCm, TPU), found without starting JAX."""
  names = [e.name for e in importlib.metadata.entry_points(group="jax_plugins")]
  try:
    import jax_plugins  # pylint: disable=g-import-not-at-top  # Namespace package of older plugins.
    names += [m.name for m in pkgutil.iter_modules(jax_plugins.__path__)]
  except ImportError:
    pass
  if importlib.util.find_spec("libtpu") is not None:
    names.append("libtpu")
  return sorted(set(names))


def huge_pages_wanted(environ: dict) -> bool:
  """Whether the command line should restart itself with huge-page malloc: tricks enabled, and JAX will
  compute on the CPU (JAX_PLATFORMS starts with "cpu", or no accelerator plugin is installed)."""
  if environ.get("JAXSSL_CPU_TRICKS", "1") == "0":
    return False
  platforms = environ.get("JAX_PLATFORMS", "")
  if platforms:
    return platforms.split(",")[0].strip() == "cpu"
  return not accelerator_plugins()


def huge_page_malloc_env(environ: dict, libc: tuple[str, str]) -> dict | None:
  """The environment to restart this command with so that glibc's malloc asks for transparent huge pages
  (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, glibc >= 2.35), or None if it is set, off or not available.

  XLA:CPU allocates its large buffers afresh on every step and glibc returns them to the kernel when they
  are freed, so each step page-faults them in again, 4 KiB at a time; with huge pages the CPU train step
  runs much faster (experiments/benchmark.py, "tuning"). JAXSSL_HUGE_PAGE_MALLOC=0 turns it off.
  `libc`: platform.libc_ver()."""
  name, version = libc
  tunables = environ.get("GLIBC_TUNABLES", "")
  if (environ.get("JAXSSL_HUGE_PAGE_MALLOC") == "0" or "glibc.malloc.hugetlb" in tunables or name != "glibc"
      or tuple(int(v) for v in version.split(".")[:2]) < (2, 35)):
    return None
  return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, [tunables, "glibc.malloc.hugetlb=1"]))}
