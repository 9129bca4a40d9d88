"""The built-in plugin: dlae's own layers, losses, optimizers, activations and techniques.

Registered through the ``dlae`` entry-point group exactly like a third-party plugin.
"""

from __future__ import annotations

from dlae_core.plugin.components import ActivationInfo, LossInfo, OptimizerInfo
from dlae_core.plugin.hookspecs import hookimpl
from dlae_core.layers.builtin import convolution, markers, pooling, utility

CF = ("CNN", "FCN")

LOSSES = (
    LossInfo("categorical_crossentropy", "-sum_c y_c log p_c on one-hot targets.", "onehot", CF),
    LossInfo("weighted_categorical_crossentropy",
             "Cross-entropy with class weights w_c = T / (C n_c) counted on the training targets.", "onehot", CF),
    LossInfo("sparse_categorical_crossentropy", "-log p_label on integer labels.", "sparse", CF),
    LossInfo("mean_squared_error", "mean_c (p_c - y_c)^2.", "dense", CF),
    LossInfo("mean_absolute_error", "mean_c |p_c - y_c|.", "dense", CF),
    LossInfo("tversky", "C - sum_c TP_c / (TP_c + a FP_c + b FN_c), batch-global.", "onehot", ("FCN",),
             "alpha (false-positive weight)", "beta (false-negative weight)", spatial_only=True),
    LossInfo("jaccard", "s (1 - (I + s) / (S - I + s)) per element over the class axis.", "onehot", CF,
             "smoothing constant s"),
    LossInfo("focal", "-alpha sum_c (1 - p_c)^gamma y_c log p_c.", "onehot", CF, "alpha", "gamma"),
    LossInfo("soft_dice", "1 - (2 sum y p + s) / (sum y + sum p + s), batch-global.", "onehot", CF,
             "smoothing constant s"),
    LossInfo("pix2pix", "Conditional GAN + lambda * L1 (paired translation).", "gan", ("GAN",),
             "lambda, weight of the L1 term"),
    LossInfo("cyclegan", "Adversarial + lambda_cyc * cycle L1 + lambda_id * identity L1 (unpaired).", "gan",
             ("GAN",), "lambda_cyc, weight of the cycle terms", "lambda_id, weight of the identity terms"),
    LossInfo("ssd", "SSD multibox loss with hard-negative mining.", "ssd", ("BBD",),
             "negatives:positives ratio (integer)", "alpha, weight of the localization loss"),
)

OPTIMIZERS = (
    OptimizerInfo("Adam", "Adam.", ("beta1", "beta2", "epsilon")),
    OptimizerInfo("NAdam", "Adam with Nesterov momentum.", ("beta1", "beta2", "epsilon")),
    OptimizerInfo("SGD", "Stochastic gradient descent with momentum.", ("momentum",)),
    OptimizerInfo("RMSprop", "RMSprop.", ("rho", "epsilon")),
    OptimizerInfo("Adagrad", "Adagrad.", ("epsilon",)),
    OptimizerInfo("Adadelta", "Adadelta.", ("rho", "epsilon")),
    OptimizerInfo("Adamax", "Adamax (infinity-norm Adam).", ("beta1", "beta2", "epsilon")),
)

ACTIVATIONS = (
    ActivationInfo("relu", "max(x, 0)"),
    ActivationInfo("relu6", "min(max(x, 0), 6) (MobileNet)"),
    ActivationInfo("tanh", "hyperbolic tangent"),
    ActivationInfo("sigmoid", "1 / (1 + exp(-x))"),
    ActivationInfo("softmax", "softmax over the last axis"),
    ActivationInfo("hard_sigmoid", "clip(x / 6 + 0.5, 0, 1) (Keras 3 definition)"),
    ActivationInfo("linear", "identity"),
    ActivationInfo("softplus", "log(1 + exp(x))"),
    ActivationInfo("softsign", "x / (1 + |x|)"),
    ActivationInfo("selu", "scaled exponential linear unit"),
    ActivationInfo("elu", "exponential linear unit with alpha 1"),
    ActivationInfo("exponential", "exp(x)"),
    ActivationInfo("swish", "x * sigmoid(x)"),
    ActivationInfo("gelu", "Gaussian error linear unit (exact erf form)"),
)

@hookimpl
def register_layers(register):
    for module_types in (utility.LAYER_TYPES, convolution.LAYER_TYPES, pooling.LAYER_TYPES, markers.layer_types()):
        for layer_type in module_types:
            register(layer_type())


@hookimpl
def register_losses(register):
    for info in LOSSES:
        register(info)


@hookimpl
def register_optimizers(register):
    for info in OPTIMIZERS:
        register(info)


@hookimpl
def register_activations(register):
    for info in ACTIVATIONS:
        register(info)


@hookimpl
def register_techniques(register):
    from dlae_core.techniques.bbd.technique import BBD
    from dlae_core.techniques.cnn import CNN
    from dlae_core.techniques.fcn import FCN
    from dlae_core.techniques.gan.technique import GAN

    for technique in (CNN(), FCN(), GAN(), BBD()):
        register(technique)
