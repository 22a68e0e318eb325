"""`refusal(call, *args, **kwargs)`: the one-line MusekitError message a call raises, for
tests that pin a refusal's whole wording (a user reads it)."""
import pytest

from musekit.errors import MusekitError


def refusal(call, *args, **kwargs):
    with pytest.raises(MusekitError) as raised:
        call(*args, **kwargs)
    message = str(raised.value)
    assert '\n' not in message, message
    return message
