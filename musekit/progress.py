"""A one-line terminal progress bar for long work (training steps, generation steps).

It draws only when its stream is a terminal, so logs and pipes stay clean; lines printed
through `clear()` first do not collide with the bar. Given `pipe_interval_s`, it writes a
plain line that often instead when the stream is not a terminal, so long work on a pipe
or in a log still shows signs of life.
"""
import sys
import time

WIDTH = 25
MIN_INTERVAL_S = 0.1


class ProgressBar:
    """`bar(done, total, note='')` redraws '<label> [####    ]  40% 600/1500 <note>'.

    `total` 0 means open-ended work: only the count is shown.
    """

    def __init__(self, label, stream=None, enabled=None, pipe_interval_s=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.pipe_interval_s = None if self.enabled else pipe_interval_s
        self._drawn_at = 0.0
        self._visible = False
        self._started_at = time.monotonic()

    def __call__(self, done, total, note=''):
        if not self.enabled:
            if self.pipe_interval_s is not None:
                self._line(done, total, note)
            return
        now = time.monotonic()
        finished = bool(total) and done >= total
        if not finished and now - self._drawn_at < MIN_INTERVAL_S:
            return
        self._drawn_at = now
        self.stream.write('\r\033[K' + self.render(done, total, note))
        self._visible = True
        if finished:
            self.stream.write('\n')
            self._visible = False
        self.stream.flush()

    def _line(self, done, total, note):
        now = time.monotonic()
        if now - max(self._drawn_at, self._started_at) < self.pipe_interval_s:
            return
        self._drawn_at = now
        self.stream.write(self.render(done, total, note) + '\n')
        self.stream.flush()

    def render(self, done, total, note=''):
        """The bar's text for `done` of `total` (no control characters)."""
        if total:
            fraction = min(1.0, done / total)
            text = '%s [%-*s] %3d%% %d/%d' % (self.label, WIDTH, '#' * int(WIDTH * fraction),
                                               int(100 * fraction), done, total)
        else:
            text = '%s %d' % (self.label, done)
        return text + ('  ' + note if note else '')

    def clear(self):
        """Erases the bar (call before printing a line); the next update redraws it."""
        if self._visible:
            self.stream.write('\r\033[K')
            self.stream.flush()
            self._visible = False
            self._drawn_at = 0.0
