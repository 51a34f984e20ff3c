"""Models: the embedded backbone, `.keras` files, `keras.applications`, the head, and units."""
