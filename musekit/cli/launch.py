"""The console commands. Each imports its program with Python's cyclic garbage collector
paused, then freezes what the imports built.

Importing Beam, note-seq or TensorFlow creates millions of long-lived objects, and every
full collection along the way walks all of them again; pausing the collector makes
start-up about a third of a second (Beam) to a second (TensorFlow) faster, and freezing
keeps later collections from re-walking that heap.
"""
import contextlib
import gc
import importlib


@contextlib.contextmanager
def gc_paused(freeze=True):
    """Runs the body with the cyclic GC off; afterwards `freeze`s the surviving objects."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def _launch(module_name):
    with gc_paused():
        module = importlib.import_module(module_name)
    module.run()


def convert():
    _launch('musekit.pipelines.convert')


def create_dataset():
    _launch('musekit.pipelines.create_dataset')


def train():
    _launch('musekit.cli.train')


def generate():
    _launch('musekit.cli.generate')


def import_magenta():
    _launch('musekit.cli.import_magenta')


def studio():
    _launch('musekit.cli.studio')
