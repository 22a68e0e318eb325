"""Data formats and sources: TFRecord files, SequenceExamples, music files -> NoteSequences."""
