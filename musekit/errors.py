"""Errors that musekit reports to users as one clear line."""


class MusekitError(Exception):
    """A problem with the user's input (name, flag, file): shown as one line, no traceback."""


class UnknownNameError(MusekitError, KeyError):
    """A registry lookup of a name that nobody registered."""

    def __str__(self):  # KeyError would quote the message
        return self.args[0] if self.args else ''
