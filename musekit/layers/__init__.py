"""Layers that several model families share, each as a Keras layer (training) beside its
NumPy twin (generation, no TensorFlow)."""
