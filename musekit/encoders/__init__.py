"""Encoders: event sequences <-> model inputs and labels. Each module registers its own."""
from musekit.encoders.base import Encoder, get_encoder  # noqa: F401
