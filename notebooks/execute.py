"""Re-execute every notebook in this folder in place, so the committed copies show fresh outputs.

python notebooks/execute.py            # all
python notebooks/execute.py 01 05      # those whose names start with 01 or 05
"""

import pathlib
import sys

import nbformat
from nbclient import NotebookClient

here = pathlib.Path(__file__).resolve().parent
prefixes = sys.argv[1:]
for path in sorted(here.glob("*.ipynb")):
    if prefixes and not any(path.name.startswith(p) for p in prefixes):
        continue
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(here)}}).execute()
    nbformat.write(nb, path)
    print("executed", path.name)
