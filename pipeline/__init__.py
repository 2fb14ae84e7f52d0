"""gelu-edge host side: train, approximate GELU, convert to TFLite, check parity, report."""

__version__ = "0.1.0"
