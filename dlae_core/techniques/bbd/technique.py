"""BBD: SSD-style bounding-box detection with predictor heads at the hooks (a built-in technique).

Training is the supervised flow of the core with the detection data (:mod:`.training`), the
:class:`~dlae_core.techniques.bbd.training.DetectionLoop` (validation mAP) and the backend's
detection engine. A backend implements technique ``BBD`` with a class instantiated with the
backend, whose instances have ``build(graph, bbd_options, placement=None)`` (the detector: graph +
heads, :mod:`.heads`), ``engine(run, data, placement)`` (its StepEngine) and
``loss(neg_pos_ratio, alpha)`` (the SSD loss as ``fn(pred, target)``).
"""

from __future__ import annotations

import math

import numpy as np

from dlae_core.errors import problem
from dlae_core.techniques.base import SupervisedTechnique, where


class BBD(SupervisedTechnique):
    name = "BBD"
    doc = "SSD-style bounding-box detection with predictor heads at the hooks."
    prediction_prefix = "bbd"
    categorical_targets = False
    check_every_target = True  # boxes are a few numbers per sample: check every one before training
    needs_implementation = True
    report_pictures = "boxes"  # validation samples: true boxes | detections (dlae_core.report.pictures)

    # -- planning ------------------------------------------------------------------------------------
    def check_config(self, config, registry) -> list:
        bbd, out = config.bbd_options, []
        if config.preprocessing.image_context != "2D":
            out.append(problem("preprocessing.image_context", "BBD detects boxes in 2D images only",
                               expected="'2D'", received=config.preprocessing.image_context))
        if bbd.negative_iou_limit > bbd.positive_iou_threshold:
            out.append(problem("bbd_options.negative_iou_limit", "the neutral-anchor limit must not exceed "
                               "positive_iou_threshold", expected=f"a value <= {bbd.positive_iou_threshold}",
                               received=bbd.negative_iou_limit))
        nested = [v for v in bbd.aspect_ratios if isinstance(v, tuple)]
        if bbd.aspect_ratios_type == "global" and nested:
            out.append(problem("bbd_options.aspect_ratios", "global aspect ratios are one tuple of numbers",
                               expected="e.g. (0.5, 1.0, 2.0)", received=bbd.aspect_ratios))
        if bbd.aspect_ratios_type == "per predictor layer" and len(nested) != len(bbd.aspect_ratios):
            out.append(problem("bbd_options.aspect_ratios", "per-layer aspect ratios are one tuple per predictor "
                               "layer", expected="e.g. ((1.0, 2.0, 0.5), (1.0, 2.0, 0.5))",
                               received=bbd.aspect_ratios))
        return out

    def check_graphs(self, config, registry, graphs: dict) -> list:
        from dlae_core.techniques.bbd.geometry import check_bbd_geometry

        graph = graphs["model"]
        if not graph.hooks:
            return [problem(where(graph), "a BBD needs at least one predictor layer",
                            expected="'Hook connection source' entries or an encoder with hook_connections True",
                            received="no hooks")]
        out = []
        rows_cols = tuple(config.config_file.input_shape[:2])
        if rows_cols != tuple(graph.input_shapes[0][:2]):
            out.append(problem("config_file.input_shape", "BBD anchors are placed on config_file.input_shape, "
                               "which must match the Input layer", expected=str(graph.input_shapes[0]),
                               received=config.config_file.input_shape))
        return out + check_bbd_geometry(config.bbd_options, len(graph.hooks))

    # -- data checks ---------------------------------------------------------------------------------
    def check_target_shape(self, rules, tally, name: str, shape: tuple, x_shape: tuple) -> None:
        if not (shape == (5,) or (len(shape) == 2 and shape[1] == 5) or math.prod(shape) == 0):
            tally.add("y-shape", name, "boxes must be rows [class, xmin, ymin, xmax, ymax]",
                      "(n, 5), (5,) for one box or (0, 5) for none", shape)

    def check_target_values(self, rules, tally, name: str, values: np.ndarray) -> None:
        from dlae_core.data.checks import number_text

        if values.size == 0 or values.shape[-1] != 5:
            return
        classes = rules.config.bbd_options.number_classes
        rows, height, width = values.reshape(-1, 5).astype(np.float64), rules.x_expected[0], rules.x_expected[1]
        for index, row in enumerate(rows):
            cls, xmin, ymin, xmax, ymax = row
            issue = None
            if cls != int(cls) or not 1 <= cls <= classes:
                issue = ("box-class", f"class {number_text(cls)} is not an object class",
                         f"an integer in 1..{classes} (bbd_options.number_classes; 0 is background)")
            elif xmax <= xmin or ymax <= ymin:
                issue = ("box-size", "the box is empty (xmax <= xmin or ymax <= ymin)",
                         "xmin < xmax and ymin < ymax (x = column, y = row)")
            elif xmin < 0 or ymin < 0 or xmax > width or ymax > height:
                issue = ("box-inside", f"the box leaves the {height}x{width} image",
                         f"0 <= xmin < xmax <= {width} and 0 <= ymin < ymax <= {height}")
            if issue:
                tally.add(issue[0], name, f"box {index}: {issue[1]}", issue[2], [number_text(v) for v in row])
                return

    # -- sessions ------------------------------------------------------------------------------------
    def build_network(self, backend, role: str, graph, config, placement=None):
        return backend.technique_implementation(self.name).build(graph, config.bbd_options, placement)

    def training_data(self, run, placement):
        from dlae_core.techniques.bbd.training import prepare_detection_data

        return prepare_detection_data(run.config, run.plan, run.registry)

    def training_engine(self, run, backend, data, placement):
        return backend.technique_implementation(self.name).engine(run, data, placement)

    def training_loop(self, run, engine, note: str):
        from dlae_core.techniques.bbd.training import DetectionLoop

        return DetectionLoop(run.config, engine, quiet=run.options.quiet, note=note)

    def saved_technique(self) -> str | None:
        return self.name

    def prediction_job(self, run, plan, payload: dict):
        from dlae_core.techniques.bbd.prediction import DetectionJob

        return DetectionJob.create(run, plan, payload, str(run.config.paths.load_model))

    # -- tools ---------------------------------------------------------------------------------------
    def check_parity(self, config, plan, registry, backends, *, batch: int = 2, seed: int = 0,
                     tolerance: float = 1e-4):
        from dlae_core.techniques.bbd.parity import check_bbd_parity

        return check_bbd_parity(config, plan, registry, backends, batch=batch, seed=seed, tolerance=tolerance)

    def inspect(self, models: dict, config, plan) -> None:
        from dlae_core.techniques.bbd.heads import add_heads_to_report

        add_heads_to_report(models["model"], config, plan.graphs["model"])
