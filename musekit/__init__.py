"""musekit: Magenta-style music generation on today's Python and TensorFlow."""
__version__ = '0.1.0'


def load_bundle(path):
    """Reads a musekit bundle (musekit.bundle, imported here so `import musekit` stays cheap)."""
    from musekit.bundle import load_bundle as load
    return load(path)
