"""Sliding-window inference speed on CPU, not a test: a 256x256x128 volume through a 3-D U-Net whose
input is 64x64x64 (torch backend), overlap 0.5, Gaussian blending -- dlae's
``dlae_core.medical.sliding`` over the backend's prediction loop, against MONAI's
``sliding_window_inference`` with the same network (the same torch module) and settings when MONAI
is installed. Prints seconds per volume for each (median of ``--repeats``) and their largest
difference (the two blend with slightly different Gaussian windows, so it is small, not zero).

    python benchmarks/medical_sliding.py [--threads N] [--batch B] [--repeats R]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from dlae_core.medical.sliding import PatchSamples, Window, sliding_window
from dlae_core.planning.graph import build_graph
from dlae_core.plugin.registry import get_registry

SIZE, PATCH = (256, 256, 128), (64, 64, 64)


def unet_layers() -> list:
    conv = ":(3, 3, 3):(1, 1, 1):same:(1, 1, 1):he_normal:None:None:0.0:0.0"
    return ["Input:(64, 64, 64, 1)", "Convolution 3D:8" + conv, "Activation:relu", "Outer skip source:concatenate",
            "Max pooling 3D:(2, 2, 2):(2, 2, 2)", "Convolution 3D:16" + conv, "Activation:relu",
            "Resize convolution 3D:8:(3, 3, 3):(1, 1, 1):(2, 2, 2):same:(1, 1, 1):he_normal:None:None:0.0:0.0",
            "Outer skip target:concatenate",
            "Convolution 3D:3:(1, 1, 1):(1, 1, 1):same:(1, 1, 1):glorot_uniform:None:None:0.0:0.0",
            "Activation:softmax"]


def timed(function, repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--overlap", type=float, default=0.5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = get_registry()
    engine = registry.backend("torch")
    config = _cpu_config(registry)
    model = engine.build_model(build_graph("serial_layer_list", config.layers.serial_layer_list, registry)).eval()
    placement = engine.placement(config, 3)
    volume = np.random.default_rng(0).random(SIZE + (1,), dtype=np.float32)

    def predict(patches):
        for _, outputs in engine.predict_batches(model, PatchSamples(patches), args.batch, 0, placement):
            yield from outputs

    window = Window(args.overlap, "gaussian")
    dlae_s, ours = timed(lambda: sliding_window(volume, PATCH, predict, window), args.repeats)
    print(f"CPU threads {args.threads}, volume {SIZE}, patch {PATCH}, overlap {args.overlap}, batch {args.batch}")
    print(f"dlae sliding_window : {dlae_s:7.2f} s per volume")
    try:
        from monai.inferers import sliding_window_inference
    except ImportError:
        print("MONAI: not installed (pip install monai) -- no comparison")
        return
    tensor = torch.from_numpy(volume)[None]  # (1, rows, cols, slices, 1): channels last, as dlae's model takes

    def monai_run():
        # MONAI slides over the axes after (batch, channel): give it channels first and hand the
        # model channels-last patches, as dlae's model takes them
        def network(x):
            return model(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)

        with torch.no_grad():
            out = sliding_window_inference(tensor.permute(0, 4, 1, 2, 3), PATCH, args.batch, network,
                                           overlap=args.overlap, mode="gaussian")
        return out.permute(0, 2, 3, 4, 1)[0].numpy()

    monai_s, theirs = timed(monai_run, args.repeats)
    print(f"MONAI sliding_window_inference : {monai_s:7.2f} s per volume (dlae/MONAI time {dlae_s / monai_s:.2f})")
    print(f"largest difference of the outputs: {np.abs(ours - theirs).max():.2e}")


def _cpu_config(registry):
    from dlae_core.config.parser import parse_config

    return parse_config({"config_file": {"model_signal": "FCN", "type_signal": "Inference",
                                         "input_shape": [64, 64, 64, 1]},
                         "training_configurations": {"hardware": "cpu"},
                         "layers": {"serial_layer_list": unet_layers()}}, registry)


if __name__ == "__main__":
    main()
