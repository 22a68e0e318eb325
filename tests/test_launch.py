"""The console commands: installed, pointing at musekit.cli.launch, importing with the
cyclic GC paused and the start-up heap frozen afterwards."""
import gc
import os
import subprocess
import sys

import pytest

from musekit.cli.launch import gc_paused

COMMANDS = ('musekit_convert', 'musekit_create_dataset', 'musekit_train', 'musekit_generate',
            'musekit_import', 'musekit_studio')


def test_gc_is_paused_inside_and_what_was_built_is_frozen_after():
    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with gc_paused():
            assert not gc.isenabled()
            built = [[i] for i in range(1000)]      # container objects the GC would track
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(built)
    finally:
        gc.unfreeze()


def test_a_disabled_gc_stays_disabled_and_errors_pass_through():
    gc.disable()
    try:
        with pytest.raises(ImportError):
            with gc_paused(freeze=False):
                import musekit_no_such_module  # noqa: F401
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize('command', COMMANDS)
def test_each_command_is_installed_and_answers_help(command):
    script = os.path.join(os.path.dirname(sys.executable), command)
    with open(script) as f:
        assert 'musekit.cli.launch' in f.read()
    proc = subprocess.run([script, '--help'], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert command in proc.stdout and '--' in proc.stdout
