"""Models: Keras builders plus a NumPy step twin for generation. Each module registers its own."""
