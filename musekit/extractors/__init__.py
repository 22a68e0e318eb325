"""Extractors: a source record (a NoteSequence, audio, ...) -> the event sequences an encoder
reads. Each module registers its own."""
