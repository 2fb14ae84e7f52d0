"""Graph rewrites of Keras models: the GELU rewrite, and the tools they share (`keras_graph`)."""
