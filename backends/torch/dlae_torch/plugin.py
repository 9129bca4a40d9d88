"""The torch backend's pluggy plugin (entry point ``torch = "dlae_torch.plugin"``, group ``dlae``).

Importing this module never imports torch: the implementations are lazy references
(``"module:TABLE"``, the entry of the table under the component's name) that the registry imports
only when the torch backend is used. :data:`IMPLEMENTED` lists what each table implements; a test
checks it against the tables.
"""

from __future__ import annotations

from dlae_core.plugin.components import BackendInfo
from dlae_core.plugin.hookspecs import hookimpl

#: (kind, table reference) -> names implemented there
IMPLEMENTED = {
    ("layer", "dlae_torch.layers:BUILDERS"): (
        'Reshape', 'Permute', 'Flatten', 'Dense', 'Activation', 'Dropout', 'Spatial dropout 2D',
        'Spatial dropout 3D', 'Gaussian dropout', 'Gaussian noise', 'Alpha dropout', 'Batch normalization',
        'Leaky reLU', 'ELU', 'Thresholded reLU', 'PreLU',),
    ("layer", "dlae_torch.layers_conv:BUILDERS"): (
        'Convolution 2D', 'Convolution 3D', 'Resize convolution 2D', 'Resize convolution 3D',
        'Transpose convolution 2D', 'Transpose convolution 3D', 'Separable convolution 2D',
        'Depthwise separable convolution 2D', 'Upsample 2D', 'Upsample 3D', 'Zero padding 2D',
        'Zero padding 3D', 'Cropping 2D', 'Cropping 3D', 'Max pooling 2D', 'Max pooling 3D',
        'Average pooling 2D', 'Average pooling 3D', 'Global max pooling 2D', 'Global max pooling 3D',
        'Global average pooling 2D', 'Global average pooling 3D',),
    ("loss", "dlae_torch.losses:BUILDERS"): (
        'categorical_crossentropy', 'weighted_categorical_crossentropy', 'sparse_categorical_crossentropy',
        'mean_squared_error', 'mean_absolute_error', 'tversky', 'jaccard', 'focal', 'soft_dice',),
    ("loss", "dlae_torch.bbd_model:LOSSES"): ("ssd",),
    ("activation", "dlae_torch.activations:BUILDERS"): (
        'relu', 'tanh', 'sigmoid', 'softmax', 'hard_sigmoid', 'linear', 'softplus', 'softsign', 'selu',
        'elu', 'exponential', 'swish', 'gelu',),
    ("optimizer", "dlae_torch.optimizers:BUILDERS"): (
        "Adam", "NAdam", "Adamax", "SGD", "RMSprop", "Adagrad", "Adadelta"),
    ("technique", "dlae_torch.gan:IMPLEMENTATIONS"): ("GAN",),
    ("technique", "dlae_torch.bbd:IMPLEMENTATIONS"): ("BBD",),
}


@hookimpl
def register_backends(register):
    register(BackendInfo("torch", "PyTorch backend (CPU and CUDA).", "dlae_torch.backend", requires=("torch",)))


@hookimpl
def register_implementations(register):
    for (kind, reference), names in IMPLEMENTED.items():
        for name in names:
            register(kind, name, "torch", reference)
