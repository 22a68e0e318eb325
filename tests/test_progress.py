"""The terminal progress bar: its text, drawn only on terminals, erased before log lines."""
import io

from musekit.progress import ProgressBar


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_render_shows_fraction_count_and_note():
    bar = ProgressBar('training', stream=io.StringIO())
    # 600/1500 = 40%: 10 of 25 cells filled
    assert bar.render(600, 1500, 'loss 1.2500') == (
        'training [##########               ]  40% 600/1500  loss 1.2500')
    assert bar.render(0, 8) == 'training [                         ]   0% 0/8'
    assert bar.render(42, 0) == 'training 42'          # open-ended: count only


def test_draws_only_on_a_terminal():
    pipe = io.StringIO()
    ProgressBar('x', stream=pipe)(1, 2)
    assert pipe.getvalue() == ''
    term = FakeTerminal()
    bar = ProgressBar('x', stream=term)
    bar(1, 2)
    assert term.getvalue() == '\r\033[K' + bar.render(1, 2)
    bar(2, 2)                                          # the last step always draws, then ends
    assert term.getvalue().endswith(bar.render(2, 2) + '\n')


def test_clear_erases_a_visible_bar_only():
    term = FakeTerminal()
    bar = ProgressBar('x', stream=term)
    bar.clear()
    assert term.getvalue() == ''
    bar(1, 4)
    bar.clear()
    assert term.getvalue().endswith('\r\033[K')
    bar(2, 4)                                          # redrawn at once after a clear
    assert term.getvalue().endswith(bar.render(2, 4))
