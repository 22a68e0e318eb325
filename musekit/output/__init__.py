"""Notes to files: MIDI (mido), WAV (soundfile or FluidSynth), piano-roll PNG (matplotlib)."""
