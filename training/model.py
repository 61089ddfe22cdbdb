"""Keras CNNs: the classic recipe (``baseline``) and the stronger default (``default``)."""

from __future__ import annotations

import keras
from keras import layers

from segmentation.normalize import SIZE

ARCHS = ("default", "baseline")


def build_baseline(n_classes: int) -> keras.Model:
    """The classic A-Z Kaggle recipe: conv/pool x3, two dense layers, softmax."""
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(128, 3, activation="relu", padding="valid"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="baseline",
    )


def _conv_bn(x, filters: int, kernel: int = 3, strides: int = 1):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def build_default(n_classes: int) -> keras.Model:
    """Stronger but still CPU-cheap (~10 M MACs a glyph): BN conv blocks with two convolutions
    at 14x14, dropout, and a small dense head. BatchNorm folds into the convolutions at ONNX
    export.

    The first convolution has stride 2 instead of a max-pool after it: a one-channel int8
    convolution at 28x28 and its pool took 38% of int8 inference time on AVX2-only CPUs, and
    the strided one runs the whole model 1.35 to 1.5x faster there (docs/model.md)."""
    inp = keras.Input((SIZE, SIZE, 1))
    x = _conv_bn(inp, 32, 5, strides=2)  # 14x14
    x = _conv_bn(x, 48)
    x = _conv_bn(x, 48)
    x = layers.MaxPooling2D(2)(x)  # 7x7
    x = layers.Dropout(0.1)(x)
    x = _conv_bn(x, 128)
    x = layers.MaxPooling2D(2)(x)  # 3x3
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inp, out, name="default")


def build_model(arch: str, n_classes: int) -> keras.Model:
    if arch == "baseline":
        model = build_baseline(n_classes)
    elif arch == "default":
        model = build_default(n_classes)
    else:
        raise ValueError(f"unknown arch {arch!r} (choose from {ARCHS})")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
