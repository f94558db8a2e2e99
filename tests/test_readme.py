"""The README's Python examples run as written, each in a fresh namespace, in order, in a scratch directory
holding the `my_images/` folder they read (so the documentation cannot rot)."""
import os
import re

from test_folder import write_tree
from test_train import ROOT


def readme_python_blocks():
  with open(os.path.join(ROOT, "README.md")) as f:
    return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_readme_has_the_examples_the_issues_ask_for():
  text = "\n".join(readme_python_blocks())
  for call in ("data.from_arrays(", "jaxssl.load_encoder(", "jaxssl.train_and_evaluate(", "losses.nt_xent(",
               "losses.paws(", 'config.data.name = "folder"'):
    assert call in text, call


def test_readme_python_examples_run_in_order(tmp_path, monkeypatch):
  write_tree(tmp_path / "my_images")
  monkeypatch.chdir(tmp_path)
  for index, block in enumerate(readme_python_blocks()):  # A later example may read an earlier one's run.
    exec(compile(block, f"README.md python block {index}", "exec"), {"__name__": "readme"})
