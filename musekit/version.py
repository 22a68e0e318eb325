"""musekit's version: a leaf module (it imports nothing), so submodules and setup.py read
it without importing the package's __init__."""
__version__ = '0.2.0'
