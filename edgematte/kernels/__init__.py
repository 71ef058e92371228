"""Native kernels (Cython + csrc/). Public functions live in edgematte.refine."""
