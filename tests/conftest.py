import os
import sys

# make tests/numpy_forward.py importable from every test folder
sys.path.insert(0, os.path.dirname(__file__))
