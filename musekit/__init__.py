"""musekit: Magenta-style music generation on today's Python and TensorFlow."""
import warnings

__version__ = '0.2.0'

# note_seq imports pydub, which warns on import when ffmpeg is missing; musekit never
# decodes compressed audio through pydub, so the warning only confuses users.
warnings.filterwarnings('ignore', message="Couldn't find ffmpeg", category=RuntimeWarning)


def load_bundle(path):
    """Reads a musekit bundle (musekit.bundle, imported here so `import musekit` stays cheap)."""
    from musekit.bundle import load_bundle as load
    return load(path)
