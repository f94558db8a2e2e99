"""jaxssl's convolution for XLA:CPU agrees with lax.conv_general_dilated, values and both gradients; and the
entry point's huge-page malloc restart."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from jaxssl import cpu_tricks
from jaxssl.cpu_tricks import huge_page_malloc_env
from jaxssl.models import conv as conv_ops


@pytest.mark.parametrize("size,channels,kernel,stride,padding", [
    (47, 16, 3, 2, "VALID"),             # The convnet's layers.
    (32, 8, 3, 2, ((1, 1), (1, 1))),     # ResNet / WRN downsampling.
    (33, 3, 7, 2, ((3, 3), (3, 3))),     # The ImageNet stem.
    (16, 8, 1, 2, "SAME"),               # A projection shortcut.
    (15, 8, 3, 1, "SAME"),               # Stride 1: XLA's forward pass, per-tap kernel gradient.
])
def test_matches_lax_conv_and_its_gradients(size, channels, kernel, stride, padding):
  x = jax.random.normal(jax.random.key(0), (3, size, size, channels))
  w = jax.random.normal(jax.random.key(1), (kernel, kernel, channels, 8)) / kernel
  probe = jax.random.normal(jax.random.key(2), lax.conv_general_dilated(
      x, w, (stride, stride), padding, dimension_numbers=conv_ops.NHWC).shape)

  def loss(conv):  # A random linear function of the output: its gradients are the conv's VJP.
    return jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(probe * conv(
        x, w, (stride, stride), padding, dimension_numbers=conv_ops.NHWC, precision="highest")), argnums=(0, 1)))

  (_, our_grads), (_, ref_grads) = loss(conv_ops.conv_general_dilated)(x, w), loss(lax.conv_general_dilated)(x, w)
  ours, ref = (jax.jit(lambda x, w, f=f: f(x, w, (stride, stride), padding, dimension_numbers=conv_ops.NHWC))(x, w)
               for f in (conv_ops.conv_general_dilated, lax.conv_general_dilated))
  for a, b in [(ours, ref), *zip(our_grads, ref_grads)]:
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.abs(b).max()))


def test_used_by_nnx_conv_on_the_cpu_and_off_when_disabled(monkeypatch):
  conv = nnx.Conv(3, 4, (3, 3), strides=2, padding="VALID", conv_general_dilated=conv_ops.conv_general_dilated,
                  rngs=nnx.Rngs(0))
  x = jnp.ones((2, 9, 9, 3))
  primitives = lambda: str(jax.make_jaxpr(lambda x: conv(x))(x))  # noqa: E731
  assert "platform_index" in primitives() and "custom_vjp_call" in primitives()
  monkeypatch.setattr(cpu_tricks, "ENABLED", False)
  assert "platform_index" not in primitives() and "conv_general_dilated" in primitives()


def test_not_traced_when_jax_computes_on_a_gpu_or_tpu(monkeypatch):
  conv = nnx.Conv(3, 4, (3, 3), strides=2, padding="VALID", conv_general_dilated=conv_ops.conv_general_dilated,
                  rngs=nnx.Rngs(0))
  x = jnp.ones((2, 9, 9, 3))
  for backend in ("gpu", "tpu"):
    monkeypatch.setattr(jax, "default_backend", lambda backend=backend: backend)
    assert not cpu_tricks.active()
    jaxpr = str(jax.make_jaxpr(lambda x: conv(x))(x))
    assert "platform_index" not in jaxpr and "custom_vjp_call" not in jaxpr and "conv_general_dilated" in jaxpr
    jax.jvp(lambda x: conv(x), (x,), (x,))  # Forward-mode AD: XLA's convolution has it.


def test_bfloat16_compute_keeps_float32_kernel_gradients():
  x = jax.random.uniform(jax.random.key(0), (2, 17, 17, 4))
  conv = nnx.Conv(4, 8, (3, 3), strides=2, padding="VALID", dtype=jnp.bfloat16,
                  conv_general_dilated=conv_ops.conv_general_dilated, rngs=nnx.Rngs(0))
  reference = nnx.Conv(4, 8, (3, 3), strides=2, padding="VALID", rngs=nnx.Rngs(0))
  grads = nnx.grad(lambda m: jnp.sum(m(x).astype(jnp.float32) ** 2))(conv)
  ref_grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(reference)
  assert grads["kernel"][...].dtype == jnp.float32
  scale = float(jnp.abs(ref_grads["kernel"][...]).max())
  np.testing.assert_allclose(grads["kernel"][...], ref_grads["kernel"][...], atol=2e-2 * scale)


def test_huge_page_malloc_env():
  env = huge_page_malloc_env({"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, ("glibc", "2.36"))
  assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}
  assert huge_page_malloc_env({}, ("glibc", "2.36"))["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
  assert huge_page_malloc_env(env, ("glibc", "2.36")) is None  # Already set: no second restart.
  assert huge_page_malloc_env({"JAXSSL_HUGE_PAGE_MALLOC": "0"}, ("glibc", "2.36")) is None
  assert huge_page_malloc_env({}, ("glibc", "2.31")) is None  # The tunable came in glibc 2.35.
  assert huge_page_malloc_env({}, ("", "")) is None  # musl, macOS: nothing to do.


def test_huge_pages_only_where_jax_computes_on_the_cpu(monkeypatch):
  monkeypatch.setattr(cpu_tricks, "accelerator_plugins", lambda: [])
  assert cpu_tricks.huge_pages_wanted({})
  assert not cpu_tricks.huge_pages_wanted({"JAXSSL_CPU_TRICKS": "0"})
  assert not cpu_tricks.huge_pages_wanted({"JAX_PLATFORMS": "cuda"})
  monkeypatch.setattr(cpu_tricks, "accelerator_plugins", lambda: ["cuda"])  # A GPU host: no restart ...
  assert not cpu_tricks.huge_pages_wanted({})
  assert cpu_tricks.huge_pages_wanted({"JAX_PLATFORMS": "cpu"})  # ... unless JAX is told to use the CPU.


@pytest.mark.parametrize("stride", [2, 1])
def test_kernel_gradient_under_shard_map_matches_xla_conv(devices, monkeypatch, stride):
  """Inside the train step's shard_map the kernel is replicated and the images split: its gradient must be
  summed over devices exactly as for XLA's convolution (the same value, not per device or 4×)."""
  from jax.sharding import PartitionSpec as P
  from jaxssl import parallel
  mesh = parallel.make_mesh(devices)
  x = jax.random.normal(jax.random.key(0), (8, 17, 17, 4))
  w = jax.random.normal(jax.random.key(1), (3, 3, 4, 8))

  def grad(own_conv: bool):
    monkeypatch.setattr(cpu_tricks, "ENABLED", own_conv)

    def loss(w, x):
      out = conv_ops.conv_general_dilated(x, w, (stride, stride), "VALID", dimension_numbers=conv_ops.NHWC)
      return lax.pmean(jnp.mean(jnp.sin(out)), "data")
    step = jax.shard_map(jax.grad(loss), mesh=mesh, in_specs=(P(), P("data")), out_specs=P())
    return jax.jit(step)(w, x)

  assert len(devices) > 1
  np.testing.assert_allclose(grad(True), grad(False), rtol=1e-5, atol=1e-7)
