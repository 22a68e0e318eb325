"""musekit: Magenta-style music generation on today's Python and TensorFlow."""
import warnings

from musekit.version import __version__  # noqa: F401 -- the package's version

# note_seq imports pydub, which warns on import when ffmpeg is missing; musekit never
# decodes compressed audio through pydub, so the warning only confuses users.
warnings.filterwarnings('ignore', message="Couldn't find ffmpeg", category=RuntimeWarning)


def load_bundle(path):
    """Reads a musekit bundle (musekit.bundle, imported here so `import musekit` stays cheap)."""
    from musekit.bundle import load_bundle as load
    return load(path)
