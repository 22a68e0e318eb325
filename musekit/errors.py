"""Errors that musekit reports to users as one clear line, and the checks that raise them."""
import numbers


class MusekitError(Exception):
    """A problem with the user's input (name, flag, file): shown as one line, no traceback."""


class UnknownNameError(MusekitError, KeyError):
    """A registry lookup of a name that nobody registered."""

    def __str__(self):  # KeyError would quote the message
        return self.args[0] if self.args else ''


def check_int(name, value, low=None, high=None):
    """Returns `value` as an int; raises MusekitError unless it is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise MusekitError('%s must be an integer, got %r' % (name, value))
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = ('>= %d' % low if high is None else '<= %d' % high if low is None
                  else 'in [%d, %d]' % (low, high))
        raise MusekitError('%s must be %s, got %d' % (name, bounds, value))
    return value
