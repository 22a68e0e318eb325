"""Generation runs its NumPy matrix products on one BLAS thread. Step models multiply small
matrices, thousands of times: OpenBLAS's default of a thread per core gains at most a fifth
on an idle machine, and its threads spin against any other busy process, making generation
2-3x slower beside one (benchmarks/busy_generation.py). One thread keeps it as fast busy as
idle."""
import contextlib

_controller = None


@contextlib.contextmanager
def one_blas_thread():
    """Within this context the calling thread's BLAS products run on one thread; the
    setting comes back after. (OpenBLAS applies a setting made in the main thread to the
    whole process, one made in another thread to that thread alone: concurrent
    generations in threads each hold their own.)"""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()    # the BLAS libraries numpy has loaded
    with _controller.limit(limits=1, user_api='blas'):
        yield
