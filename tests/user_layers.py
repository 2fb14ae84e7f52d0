"""Registered Keras objects as users write them, for the model-forms matrix: a subclassed model
and a custom layer, each computing GELU three ways (a Dense's `activation=`, an `Activation`
layer, and `keras.ops.gelu` called in `call()`). The builds import this file with
`--custom-objects`; the tests import it the same way (`import_custom_objects`)."""

import keras


@keras.saving.register_keras_serializable(package="forms")
class GeluNet(keras.Model):
    """A subclassed model: layers made in __init__, used in call."""

    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.up = keras.layers.Dense(units, activation="gelu")
        self.norm = keras.layers.LayerNormalization()
        self.act = keras.layers.Activation("gelu")
        self.mid = keras.layers.Dense(units)
        self.head = keras.layers.Dense(1)

    def call(self, x):
        h = self.act(self.norm(self.up(x)))
        return self.head(keras.ops.gelu(self.mid(h)))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="forms")
class PlainNet(keras.Model):
    """A subclassed model as often written: no get_config, and Keras' arguments taken as
    `**kw`, which Keras does not recognise as kwargs: it saves no name for it, and every load
    makes up a new one."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.up = keras.layers.Dense(16, activation="gelu")
        self.head = keras.layers.Dense(1)

    def call(self, x):
        return self.head(keras.ops.gelu(self.up(x)))


@keras.saving.register_keras_serializable(package="forms")
class GeluBlock(keras.layers.Layer):
    """A custom layer with GELU inside: a Dense's activation and keras.ops.gelu in call."""

    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = keras.layers.Dense(units, activation="gelu")
        self.out = keras.layers.Dense(units)

    def call(self, x):
        return keras.ops.gelu(self.out(self.inner(x)), approximate=False)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="forms")
class NumpyNet(keras.Model):
    """A subclassed model whose call() leaves Keras for numpy: it runs eagerly, but cannot be
    traced on a symbolic input, so no graph can be made of it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1, activation="gelu")

    def call(self, x):
        import numpy as np

        return self.dense(keras.ops.convert_to_tensor(np.asarray(x) * 2.0))
