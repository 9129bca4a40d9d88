"""Framework-free SSD-style bounding-box detection (BBD), numpy/scipy only.

* :mod:`.anchors` -- the one anchor generator (training targets and decoding) and the network
  output layout the backends must produce: per anchor ``[C+1 softmax class scores, background
  first | 4 box offsets]``, anchors in ``make_anchors`` order;
* :mod:`.encode` -- box checks, IoU, matching and offset encoding (training targets);
* :mod:`.decode` -- offsets -> boxes, per-class NMS, top_k (predictions);
* :mod:`.metrics` -- mAP (VOC all-point AP);
* :mod:`.augment` -- the SSD geometric augmentation chain;
* :mod:`.loss_reference` -- numpy reference of the SSD loss;
* :mod:`.datasets` -- map-style training / evaluation / prediction samples;
* :mod:`.heads` -- the predictor heads both backends build on the hooks (names, sizes, init);
* :mod:`.session` -- a training session's data and box checks, validation mAP, ``DetectionLoop``;
* :mod:`.prediction` -- ``DetectionJob``: inference samples, anchors and decoding of a saved model;
* :mod:`.parity` -- ``dlae check`` for BBD (outputs, SSD loss, decoded boxes across backends).
"""

from dlae_core.techniques.bbd.anchors import PredictorLayout, boxes_per_cell, make_anchors, predictor_layouts
from dlae_core.techniques.bbd.decode import decode, nms
from dlae_core.techniques.bbd.encode import check_boxes, encode_boxes, iou
from dlae_core.techniques.bbd.metrics import mean_average_precision

__all__ = ["PredictorLayout", "boxes_per_cell", "make_anchors", "predictor_layouts", "decode", "nms",
           "check_boxes", "encode_boxes", "iou", "mean_average_precision"]
