"""Generation's one BLAS thread: set while steps run, restored after, also after an error
and when a generation runs in another thread."""
import threading

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from musekit.generation import generate, one_blas_thread
from test_generation import setup


def blas_threads():
    return sorted({lib['num_threads'] for lib in threadpool_info() if lib['user_api'] == 'blas'})


class Recording:
    """Wraps a step model, recording the BLAS threads at every step."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def step(self, inputs, state):
        self.seen.append(blas_threads())
        return self.model.step(inputs, state)

    def step_and_sample(self, inputs, state, temperature, rng):
        self.seen.append(blas_threads())
        return self.model.step_and_sample(inputs, state, temperature, rng)


def test_steps_run_on_one_blas_thread_and_the_setting_comes_back():
    assert blas_threads(), 'numpy has no BLAS that threadpoolctl sees'
    model, encoder = setup('basic_rnn')
    with threadpool_limits(limits=2, user_api='blas'):
        for beam_size in (1, 3):
            recording = Recording(model)
            generate(recording, encoder, [60, -2], 12, num_outputs=2, seed=1,
                     beam_size=beam_size)
            assert len(recording.seen) >= 10
            assert all(seen == [1] for seen in recording.seen)
            assert blas_threads() == [2]


def test_a_generation_in_another_thread_leaves_the_process_setting_alone():
    # OpenBLAS reports its thread count truly only to the main thread (a worker's products
    # run on the worker's own setting), so the worker generates and the main thread reads
    model, encoder = setup('basic_rnn')
    results = []
    with threadpool_limits(limits=2, user_api='blas'):
        other = threading.Thread(target=lambda: results.append(
            generate(model, encoder, [60, -2], 12, num_outputs=2, seed=1)))
        other.start()
        other.join(30)
        assert results and blas_threads() == [2]
        with one_blas_thread():
            assert blas_threads() == [1]
        assert blas_threads() == [2]


def test_the_setting_comes_back_after_an_error():
    with threadpool_limits(limits=2, user_api='blas'):
        try:
            with one_blas_thread():
                assert blas_threads() == [1]
                raise RuntimeError('a failing step')
        except RuntimeError:
            pass
        assert blas_threads() == [2]
        assert np.ones(3) @ np.ones(3) == 3.0


def test_the_environment_sets_another_count_or_none(monkeypatch):
    import pytest
    from musekit.errors import MusekitError
    with threadpool_limits(limits=2, user_api='blas'):
        monkeypatch.setenv('MUSEKIT_GENERATION_BLAS_THREADS', '0')
        with one_blas_thread():
            assert blas_threads() == [2]            # left as it is
        monkeypatch.setenv('MUSEKIT_GENERATION_BLAS_THREADS', '1')
        with one_blas_thread():
            assert blas_threads() == [1]
        for bad in ('two', '-1', '1.5', '99999'):
            monkeypatch.setenv('MUSEKIT_GENERATION_BLAS_THREADS', bad)
            with pytest.raises(MusekitError, match='MUSEKIT_GENERATION_BLAS_THREADS'):
                with one_blas_thread():
                    pass
        assert blas_threads() == [2]
