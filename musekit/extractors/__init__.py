"""Extractors: NoteSequence -> the event sequences an encoder reads. Each module registers
its own (`melody` now; piano rolls and audio later)."""
