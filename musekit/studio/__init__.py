"""musekit studio: a local web page to pick a bundle, prime it, generate, watch, listen and
download (`musekit_studio`). The server never imports TensorFlow; generation runs in worker
processes (jobs.py), with the same flags and checks as musekit_generate."""
