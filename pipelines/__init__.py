"""Apache Beam jobs: each module has a main() and a function that builds its pipeline."""
