"""The tensorflow backend's pluggy plugin (entry point ``tensorflow = "dlae_tensorflow.plugin"``,
group ``dlae``).

Importing this module never imports tensorflow or keras: the implementations are lazy references
(``"module:TABLE"``, the entry of the table under the component's name) that the registry imports
only when the tensorflow backend is used (its backend module and the layer tables, the first
resolved, select Keras on TensorFlow with :func:`dlae_tensorflow.require_tensorflow_keras` before
tensorflow loads). :data:`IMPLEMENTED` lists what each table implements; a test checks it against
the tables.
"""

from __future__ import annotations

from dlae_core.plugin.components import BackendInfo
from dlae_core.plugin.hookspecs import hookimpl

#: (kind, table reference) -> names implemented there
IMPLEMENTED = {
    ("layer", "dlae_tensorflow.layers:BUILDERS"): (
        'Reshape', 'Permute', 'Flatten', 'Dense', 'Activation', 'Dropout', 'Spatial dropout 2D',
        'Spatial dropout 3D', 'Gaussian dropout', 'Gaussian noise', 'Alpha dropout', 'Batch normalization',
        'Leaky reLU', 'ELU', 'Thresholded reLU', 'PreLU',),
    ("layer", "dlae_tensorflow.layers_conv:BUILDERS"): (
        'Convolution 2D', 'Convolution 3D', 'Resize convolution 2D', 'Resize convolution 3D',
        'Transpose convolution 2D', 'Transpose convolution 3D', 'Separable convolution 2D',
        'Depthwise separable convolution 2D', 'Upsample 2D', 'Upsample 3D', 'Zero padding 2D',
        'Zero padding 3D', 'Cropping 2D', 'Cropping 3D', 'Max pooling 2D', 'Max pooling 3D',
        'Average pooling 2D', 'Average pooling 3D', 'Global max pooling 2D', 'Global max pooling 3D',
        'Global average pooling 2D', 'Global average pooling 3D',),
    ("loss", "dlae_tensorflow.losses:BUILDERS"): (
        'categorical_crossentropy', 'weighted_categorical_crossentropy', 'sparse_categorical_crossentropy',
        'mean_squared_error', 'mean_absolute_error', 'tversky', 'jaccard', 'focal', 'soft_dice',),
    ("loss", "dlae_tensorflow.bbd_model:LOSSES"): ("ssd",),
    ("activation", "dlae_tensorflow.activations:BUILDERS"): (
        'relu', 'tanh', 'sigmoid', 'softmax', 'hard_sigmoid', 'linear', 'softplus', 'softsign', 'selu',
        'elu', 'exponential', 'swish', 'gelu',),
    ("optimizer", "dlae_tensorflow.optimizers:BUILDERS"): (
        "Adam", "NAdam", "Adamax", "SGD", "RMSprop", "Adagrad", "Adadelta"),
    ("technique", "dlae_tensorflow.gan:IMPLEMENTATIONS"): ("GAN",),
    ("technique", "dlae_tensorflow.bbd:IMPLEMENTATIONS"): ("BBD",),
}


@hookimpl
def register_backends(register):
    register(BackendInfo("tensorflow", "TensorFlow backend (Keras 3; CPU and GPU).", "dlae_tensorflow.backend",
                         requires=("tensorflow",)))


@hookimpl
def register_implementations(register):
    for (kind, reference), names in IMPLEMENTED.items():
        for name in names:
            register(kind, name, "tensorflow", reference)
