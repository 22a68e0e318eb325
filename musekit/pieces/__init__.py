"""Piece types: what a family's event sequences are to a user (a melody, a polyphonic
piece, audio): primers in, outputs written. Each module registers its own."""
