"""Training: datasets, augmentation, the Keras CNN, reports and ONNX export.

Imports TensorFlow/Keras; nothing at run time imports this package."""
