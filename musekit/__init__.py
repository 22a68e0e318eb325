"""musekit: Magenta-style music generation on today's Python and TensorFlow."""
__version__ = '0.1.0'
