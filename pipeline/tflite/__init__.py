"""TFLite models as gelu-edge reads them: the flatbuffer graph, the checks on a converted graph
and the quantization modes."""
