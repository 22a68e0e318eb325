"""Generation runs its NumPy matrix products on one BLAS thread. Step models multiply small
matrices, thousands of times: OpenBLAS's default of a thread per core gains at most a fifth
on an idle machine, and its threads spin against any other busy process, making generation
2-3x slower beside one (benchmarks/busy_generation.py). One thread keeps it as fast busy as
idle. MUSEKIT_GENERATION_BLAS_THREADS=N sets another count; 0 leaves BLAS as it is."""
import contextlib
import os

from musekit.errors import MusekitError

ENV = 'MUSEKIT_GENERATION_BLAS_THREADS'
_controller = None


def blas_threads():
    """The BLAS threads generation asks for (MUSEKIT_GENERATION_BLAS_THREADS, default 1; 0:
    BLAS's own setting)."""
    text = os.environ.get(ENV, '').strip()
    if not text:
        return 1
    if not text.isdigit() or int(text) > 1024:
        raise MusekitError('%s=%r: expected a number of threads, 0 to 1024 (0: BLAS\'s own '
                           'setting)' % (ENV, text[:40]))
    return int(text)


@contextlib.contextmanager
def one_blas_thread():
    """Within this context the calling thread's BLAS products run on one thread (or on
    MUSEKIT_GENERATION_BLAS_THREADS); the setting comes back after. (OpenBLAS applies a
    setting made in the main thread to the whole process, one made in another thread to
    that thread alone: concurrent generations in threads each hold their own.)"""
    global _controller
    threads = blas_threads()
    if not threads:
        yield
        return
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()    # the BLAS libraries numpy has loaded
    with _controller.limit(limits=threads, user_api='blas'):
        yield
