"""gelu-edge device side: run a .tflite model on a TFLite runtime. Imports only numpy and a
runtime."""

__version__ = "0.1.0"
