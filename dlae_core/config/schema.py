"""The config schema: one frozen attrs class per section, one field per key.

The classes *are* the schema: each field's metadata holds its value kind, its
documentation and which techniques read it. The parser, the converter and
``docs/CONFIG.md`` are all derived from these fields.
"""

from __future__ import annotations

import attrs

from dlae_core.config.composite import LearningRate, LearningRateKind, OptimizerKind, OptimizerRecord
from dlae_core.config.values import (Bool, Choice, Float, FloatList, Int, Kind, NestedNumbers, NumberTuple,
                     OptionalFloat, Path, Shape, Text)

REQUIRED = attrs.NOTHING

NORMALIZATIONS = (
    "samplewise_unity_x", "samplewise_negpos_x", "global_unity_x", "global_negpos_x",
    "samplewise_unity_xy", "samplewise_negpos_xy", "global_unity_xy", "global_negpos_xy", "none", "imagenet",
)


def key(kind: Kind, default: object = REQUIRED, *, doc: str, used_by: str = "CFGB",
        registry: str | None = None, new: bool = False):
    """Declare one config key. ``registry`` names the registry its value is looked up in."""
    meta = {"kind": kind, "doc": doc, "used_by": used_by, "registry": registry, "new": new}
    if default is REQUIRED:
        return attrs.field(metadata=meta)
    return attrs.field(default=default, metadata=meta)


@attrs.frozen(kw_only=True)
class ConfigFile:
    model_signal: str = key(Text(), doc="Technique: CNN, FCN, GAN or BBD (any registered technique).",
                            registry="techniques")
    type_signal: str = key(Choice(("Train", "Train from Checkpoint", "Inference")),
                           doc="Session: Train, Train from Checkpoint (continue from paths.load_checkpoint) or Inference.")
    input_shape: tuple = key(Shape(min_rank=2, max_rank=4), (512, 512, 1),
                             doc="Image shape (rows, cols[, slices], channels). BBD reads rows and cols for its anchors; "
                                 "the Input: layer defines the network input and must agree with it (the channel "
                                 "axis may be left out).")


@attrs.frozen(kw_only=True)
class Paths:
    load_config: str | None = key(Path(), None, doc="Informational: which file the GUI loaded.")
    load_checkpoint: str | None = key(Path(), None, doc="Checkpoint to continue training from (Train from Checkpoint, or Train with a checkpoint to resume).")
    load_model: str | None = key(Path(), None, doc="Saved model for an Inference session.")
    train_X: str | None = key(Path(), None, doc="HDF5 file of training inputs, one dataset per sample named 0..n-1.")
    train_y: str | None = key(Path(), None, doc="HDF5 file of training targets with the same dataset names as train_X.")
    validation_X: str | None = key(Path(), None, doc="HDF5 file of validation inputs (used when validation_split is 0).")
    validation_y: str | None = key(Path(), None, doc="HDF5 file of validation targets.")
    test_X: str | None = key(Path(), None, doc="HDF5 file of inputs to predict on in an Inference session.")


@attrs.frozen(kw_only=True)
class Preprocessing:
    minimum_image_intensity: tuple = key(FloatList(1, 2), (0.0,), doc="Lower intensity bound(s) for global_* normalization: one value (inputs) or two (inputs, targets) for *_xy.")
    maximum_image_intensity: tuple = key(FloatList(1, 2), (4096.0,), doc="Upper intensity bound(s), paired with minimum_image_intensity.")
    image_context: str = key(Choice(("2D", "3D")), "2D", doc="2D or 3D images.")
    normalization_type: str = key(Choice(NORMALIZATIONS), "samplewise_unity_x", doc="Intensity normalization of inputs (and targets for *_xy).")
    categorical_switch: bool = key(Bool(), False, doc="One-hot encode targets with `categories` classes.", used_by="CFG")
    categories: int = key(Int(minimum=1), 2, doc="Number of classes for one-hot conversion and class weighting.", used_by="CFG")
    weight_loss_switch: bool = key(Bool(), False, doc="No effect (as in the original); class weighting comes from the loss weighted_categorical_crossentropy.", used_by="")
    repeat_X_switch: bool = key(Bool(), False, doc="Repeat the input channels repeat_X_quantity times (1-channel images into 3-channel encoders).")
    repeat_X_quantity: int = key(Int(minimum=1), 3, doc="Number of channel repetitions.")


@attrs.frozen(kw_only=True)
class Augmentation:
    apply_augmentation_switch: bool = key(Bool(), False, doc="Master switch for random augmentation of training batches.")
    featurewise_centering_switch: bool = key(Bool(), False, doc="Subtract the per-channel mean of the training set.", used_by="CFG")
    samplewise_centering_switch: bool = key(Bool(), False, doc="Subtract each sample's mean.", used_by="CFG")
    featurewise_normalization_switch: bool = key(Bool(), False, doc="Divide by the per-channel std of the training set (+1e-6).", used_by="CFG")
    samplewise_normalization_switch: bool = key(Bool(), False, doc="Divide each sample by its std (+1e-6).", used_by="CFG")
    width_shift: float = key(Float(minimum=0.0), 0.0, doc="Random column shift: fraction of the width if < 1, else pixels.", used_by="CFG")
    height_shift: float = key(Float(minimum=0.0), 0.0, doc="Random row shift: fraction of the height if < 1, else pixels.", used_by="CFG")
    rotation_range: int = key(Int(minimum=0), 0, doc="Random rotation in [-v, v] degrees.", used_by="CFG")
    brightness_range: tuple | None = key(NumberTuple(2, positive=True, allow_none=True), None, doc="Random brightness factor range (low, high), or None.", used_by="CFG")
    shear_range: float = key(Float(minimum=0.0), 0.0, doc="Random shear in [-v, v] degrees.", used_by="CFG")
    zoom_range: float = key(Float(0.0, 1.0, max_open=True), 0.0, doc="Random zoom factors in [1-v, 1+v] per axis.", used_by="CFG")
    channel_shift_range: float = key(Float(minimum=0.0), 0.0, doc="Random intensity shift in [-v, v] added per channel.", used_by="CFG")
    fill_mode: str = key(Choice(("nearest", "constant", "reflect", "wrap")), "nearest", doc="Boundary handling of affine resampling.", used_by="CFG")
    cval: float = key(Float(), 0.0, doc="Fill value for fill_mode constant.", used_by="CFG")
    horizontal_flip_switch: bool = key(Bool(), True, doc="Random left-right flips (probability 0.5).", used_by="CFG")
    vertical_flip_switch: bool = key(Bool(), True, doc="Random up-down flips (probability 0.5).", used_by="CFG")
    rounds: int = key(Int(minimum=1), 1, doc="Passes over the training set per epoch, each freshly augmented.")
    zca_epsilon: float | None = key(OptionalFloat(minimum=0.0, min_open=True), None, doc="Per-sample ZCA whitening epsilon, or None.", used_by="CFG")
    random_seed: int = key(Int(), 1, doc="Seed of augmentation, shuffling, splits and weight initialization.")


@attrs.frozen(kw_only=True)
class LossFunction:
    loss: str = key(Text(), "categorical_crossentropy", doc="Loss name (any registered loss).", registry="losses")
    parameter1: float = key(Float(), 0.0, doc="Loss-specific parameter 1 (see LOSSES).")
    parameter2: float = key(Float(), 0.0, doc="Loss-specific parameter 2 (see LOSSES).")
    adversarial: str = key(Choice(("log", "least_squares")), "log",
                           doc="GAN adversarial objective: log loss (the manual's) or least squares (the original's).",
                           used_by="G", new=True)


@attrs.frozen(kw_only=True)
class LearningRateSchedule:
    learning_rate: float = key(Float(minimum=0.0, min_open=True), 0.0001, doc="Initial learning rate of the main optimizer.", used_by="CFB")
    learning_rate_decay_factor: float = key(Float(minimum=0.0), 0.0, doc="Inverse-time decay per update: lr / (1 + decay * t).", used_by="CFB")
    decay_on_plateau_switch: bool = key(Bool(), True, doc="Reduce the learning rate when val_loss stops improving.", used_by="CFB")
    decay_on_plateau_factor: float = key(Float(0.0, 1.0, min_open=True, max_open=True), 0.2, doc="Factor of the plateau reduction.", used_by="CFB")
    decay_on_plateau_patience: int = key(Int(minimum=0), 3, doc="Plateau patience and cooldown in epochs.", used_by="CFB")
    step_decay_switch: bool = key(Bool(), False, doc="Multiply the learning rate by step_decay_factor every step_decay_period epochs.", used_by="CFB")
    step_decay_factor: float = key(Float(0.0, 1.0, min_open=True), 0.1, doc="Step decay factor.", used_by="CFB")
    step_decay_period: int = key(Int(minimum=1), 3, doc="Step decay period in epochs.", used_by="CFB")
    discriminator_learning_rate: LearningRate = key(LearningRateKind(), LearningRate(0.0001, 0.0), doc='Discriminator "learning_rate:decay".', used_by="G")
    gan_learning_rate: LearningRate = key(LearningRateKind(), LearningRate(0.0001, 0.0), doc='Generator "learning_rate:decay".', used_by="G")


@attrs.frozen(kw_only=True)
class Optimizer:
    optimizer: str = key(Text(), "Adam", doc="Main optimizer (any registered optimizer).", registry="optimizers", used_by="CFB")
    beta1: float = key(Float(0.0, 1.0, max_open=True), 0.9, doc="Adam, NAdam, Adamax beta1.", used_by="CFB")
    beta2: float = key(Float(0.0, 1.0, max_open=True), 0.999, doc="Adam, NAdam, Adamax beta2.", used_by="CFB")
    rho: float = key(Float(minimum=0.0), 0.9, doc="RMSprop, Adadelta rho.", used_by="CFB")
    momentum: float = key(Float(minimum=0.0), 0.0, doc="SGD momentum.", used_by="CFB")
    epsilon: float | None = key(OptionalFloat(minimum=0.0, min_open=True), None, doc="Fuzz factor; None means 1e-7.", used_by="CFB")
    discriminator_optimizer: OptimizerRecord = key(OptimizerKind(), OptimizerRecord("Adam"), doc='Discriminator optimizer "name:beta1:beta2:rho:momentum:epsilon".', used_by="G")
    gan_optimizer: OptimizerRecord = key(OptimizerKind(), OptimizerRecord("Adam"), doc='Generator optimizer "name:beta1:beta2:rho:momentum:epsilon".', used_by="G")


@attrs.frozen(kw_only=True)
class TrainingConfigurations:
    hardware: str = key(Choice(("gpu", "multi-gpu", "cpu")), "gpu", doc="Device: gpu (CUDA when present, else CPU), cpu, or multi-gpu.")
    number_of_gpus: int = key(Int(minimum=1), 1, doc="GPUs for data-parallel training (hardware multi-gpu; 1: every visible GPU). batch_size is the global batch, split evenly among them (docs/DISTRIBUTED.md).")
    synchronized_batch_normalization: bool = key(Bool(), False, doc="In data-parallel training, batch normalization uses the statistics of the global batch (all processes or devices together) instead of each one's part.", new=True)
    early_stop_switch: bool = key(Bool(), True, doc="Stop when val_loss has not improved for early_stop_patience epochs.", used_by="CFB")
    early_stop_patience: int = key(Int(minimum=0), 10, doc="Early-stopping patience in epochs.", used_by="CFB")
    batch_size: int = key(Int(minimum=1), 32, doc="Batch size for training, validation and inference.")
    epochs: int = key(Int(minimum=0), 500, doc="Maximum number of epochs; 0 builds the model (with any pretrained weights), saves it to save_model_path and stops, reading no training batch.")
    shuffle_data_switch: bool = key(Bool(), True, doc="Shuffle training samples every epoch (seeded by random_seed).")
    validation_split: float = key(Float(0.0, 1.0, max_open=True), 0.2, doc="Fraction of the training file held out for validation; 0 uses validation_X/y. Absent from a config that names validation files: 0 (the files are used).")
    precision: str = key(Choice(("fp32", "bf16", "fp16")), "fp32", doc="Numeric precision: fp32, or bf16/fp16 mixed precision on a GPU.", new=True)
    cache_data: bool = key(Bool(), True, doc="Keep data that fit in memory in memory after reading them once: whole batches when items do not change between epochs (no random augmentation), else the decoded samples, augmented afresh every epoch. Off: every epoch reads the files again (dlae run --no-cache). The budget is 40% of the memory available at start-up, or $DLAE_CACHE_GIB.", new=True)
    freeze_pretrained: bool = key(Bool(), False, doc="Freeze the pretrained networks of the layer lists: their weights are not trained and their batch normalization runs in inference mode (the original trains every weight).", new=True)
    sliding_window_switch: bool = key(Bool(), False, doc="Inference by sliding windows: images larger than the model input are cut into overlapping patches of the input shape whose outputs are blended back to the image's size (as dlae predict --sliding-window).", used_by="FG", new=True)
    sliding_window_overlap: float = key(Float(0.0, 1.0, max_open=True), 0.5, doc="Fraction by which neighbouring sliding windows overlap.", used_by="FG", new=True)
    sliding_window_blending: str = key(Choice(("gaussian", "constant")), "gaussian", doc="How overlapping window outputs are blended: gaussian (patch centres weigh more) or constant (plain average).", used_by="FG", new=True)


@attrs.frozen(kw_only=True)
class Monitors:
    mse_switch: bool = key(Bool(), False, doc="Report mean squared error.", used_by="CFB")
    mae_switch: bool = key(Bool(), False, doc="Report mean absolute error.", used_by="CFB")
    accuracy_switch: bool = key(Bool(), True, doc="Report accuracy (categorical or sparse, chosen from the target form).", used_by="CFB")


@attrs.frozen(kw_only=True)
class SaveConfigurations:
    save_model_switch: bool = key(Bool(), False, doc="Save the final model after training.")
    save_model_path: str | None = key(Path(), None, doc="Final model file (used as given; parent folders created).")
    save_csv_switch: bool = key(Bool(), False, doc="Write the per-epoch history as CSV.")
    save_csv_path: str | None = key(Path(), None, doc="CSV history file.")
    save_checkpoints_switch: bool = key(Bool(), False, doc="Save the best model (lowest val_loss) during training.")
    save_checkpoints_path: str | None = key(Path(), None, doc="Checkpoint file.")
    save_checkpoints_frequency: int = key(Int(minimum=1), 1, doc="Epochs between checkpoint checks.")
    save_tensorboard_switch: bool = key(Bool(), False, doc="Write TensorBoard scalars.")
    save_tensorboard_path: str | None = key(Path(), None, doc="TensorBoard log directory.")
    save_tensorboard_frequency: int = key(Int(minimum=0), 5, doc="Histogram frequency in epochs (0 = scalars only).")


@attrs.frozen(kw_only=True)
class BbdOptions:
    scaling_type: str = key(Choice(("global", "per predictor layer")), "global", doc="global: scales are (min, max); per predictor layer: n+1 scales.", used_by="B")
    scales: tuple = key(FloatList(2, positive=True), (0.1, 0.9), doc="Anchor scales as fractions of the shorter image side.", used_by="B")
    aspect_ratios_type: str = key(Choice(("global", "per predictor layer")), "global", doc="global: one tuple; per predictor layer: one tuple per hook.", used_by="B")
    aspect_ratios: tuple = key(NestedNumbers(allow_none=False, positive=True), (0.5, 1.0, 1.5, 2.0), doc="Anchor width/height ratios.", used_by="B")
    number_classes: int = key(Int(minimum=1), 1, doc="Object classes, excluding background (class 0).", used_by="B")
    steps: tuple | None = key(NestedNumbers(inner_length=2, positive=True), (8, 16, 32, 64, 128), doc="Anchor centre spacing per predictor layer, or None (image size / map size).", used_by="B")
    offsets: tuple | None = key(NestedNumbers(inner_length=2), None, doc="First anchor centre as a fraction of the step, or None (0.5).", used_by="B")
    variances: tuple = key(NumberTuple(4, positive=True), (0.1, 0.1, 0.2, 0.2), doc="Divisors of the encoded offsets (cx, cy, w, h).", used_by="B")
    confidence_threshold: float = key(Float(0.0, 1.0), 0.5, doc="Minimum class score for a detection.", used_by="B")
    iou_threshold: float = key(Float(0.0, 1.0), 0.5, doc="Per-class NMS IoU threshold.", used_by="B")
    top_k: int = key(Int(minimum=0), 200, doc="Detections kept per image (0 = all).", used_by="B")
    nms_maximum_output: int = key(Int(minimum=0), 400, doc="Maximum boxes entering NMS per class (0 = all).", used_by="B")
    coordinates_type: str = key(Choice(("centroids", "minmax", "corners")), "centroids", doc="Internal box parameterization.", used_by="B")
    two_boxes_for_AR1_switch: bool = key(Bool(), False, doc="Add a second square anchor for aspect ratio 1.", used_by="B")
    clip_boxes_switch: bool = key(Bool(), False, doc="Clip anchors to the image.", used_by="B")
    normalize_coordinates_switch: bool = key(Bool(), False, doc="Work in coordinates relative to the image size.", used_by="B")
    positive_iou_threshold: float = key(Float(0.0, 1.0), 0.5, doc="IoU for an anchor to match a box.", used_by="B")
    negative_iou_limit: float = key(Float(0.0, 1.0), 0.3, doc="Unmatched anchors with IoU at least this are neutral.", used_by="B")


# Section name -> class, in the order the GUI writes them. ``layers`` is parsed separately.
SECTIONS: dict[str, type] = {
    "config_file": ConfigFile,
    "paths": Paths,
    "preprocessing": Preprocessing,
    "augmentation": Augmentation,
    "loss_function": LossFunction,
    "learning_rate_schedule": LearningRateSchedule,
    "optimizer": Optimizer,
    "training_configurations": TrainingConfigurations,
    "monitors": Monitors,
    "save_configurations": SaveConfigurations,
    "bbd_options": BbdOptions,
}

LAYER_LISTS = ("serial_layer_list", "generator_layer_list", "discriminator_layer_list")


@attrs.frozen(kw_only=True)
class Layers:
    serial_layer_list: tuple = ()
    generator_layer_list: tuple = ()
    discriminator_layer_list: tuple = ()


@attrs.frozen(kw_only=True)
class Config:
    """A whole parsed config. Layer lists hold parsed :class:`LayerSpec` objects."""

    config_file: ConfigFile
    paths: Paths
    preprocessing: Preprocessing
    augmentation: Augmentation
    loss_function: LossFunction
    learning_rate_schedule: LearningRateSchedule
    optimizer: Optimizer
    training_configurations: TrainingConfigurations
    monitors: Monitors
    save_configurations: SaveConfigurations
    bbd_options: BbdOptions
    layers: Layers
    source: str | None = attrs.field(default=None, eq=False)  # file it came from, for relative paths
    # "section.key" of every key the config file gives (present and not empty): the others took defaults
    given: frozenset = attrs.field(default=frozenset(), eq=False)

    def evolve(self, **changes: dict) -> "Config":
        """Copy with some keys changed: ``cfg.evolve(training_configurations={"epochs": 3})``."""
        updated = {name: attrs.evolve(getattr(self, name), **values) for name, values in changes.items()}
        return attrs.evolve(self, **updated)
