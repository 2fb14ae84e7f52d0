"""What a build takes in: Keras models, data files, calibration samples, and batches of them."""
