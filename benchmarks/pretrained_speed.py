"""Pretrained encoders: training-step speed of dlae's ResNet50 against torchvision's, and build times.

    python benchmarks/pretrained_speed.py [--size 128] [--batch 8] [--steps 6] [--pairs 3] [--threads 2]
                                          [--builds] [--build-size 512]

* Step speed (torch): dlae's ResNet50 (keras-applications layout, built from the core's recording by the
  torch backend's ordinary layer builders: convolutions with biases, Keras BatchNormalization) with a
  global-average-pooling + 1000-way dense head, against torchvision's ``resnet50`` (no conv biases,
  torch BatchNorm). One training step = forward, cross-entropy, backward, SGD step, same input, batch
  and thread count. One warm-up step each, then ``--pairs`` pairs of ``--steps`` steps in ABBA order;
  reported: images/s of each and the median per-pair ratio dlae / torchvision (aim >= 0.9).
  torchvision must import; where its compiled extension does not match the installed torch (this
  project's CPU machine: the only torchvision wheels on PyPI are built for CUDA torch), ``--reference
  hand`` times the same architecture written here with torch.nn following torchvision's definition.
* ``--builds``: wall time of the core's plan (record + graph expansion) and of building the model on
  each installed backend, for the largest U-Nets (InceptionResNetV2, ResNet152) at ``--build-size``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dlae_core.layers.grammar import parse_layer  # noqa: E402
from dlae_core.planning.graph import build_graph  # noqa: E402
from dlae_core.plugin.registry import get_registry  # noqa: E402


def dlae_resnet50(size: int):
    registry = get_registry()
    shape = f"({size}, {size}, 3)"
    texts = (f"Input:{shape}", f"ResNet50:False:none:{shape}:False:False", "Global average pooling 2D", "Dense:1000")
    graph = build_graph("serial_layer_list", tuple(parse_layer(t, "layers", registry)[0] for t in texts), registry)
    model = registry.backend("torch").build_model(graph)
    return model, "channels_last_input"


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 bottleneck (v1.5: the stride on the 3x3 convolution)."""

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, 4 * width, 1, bias=False), nn.BatchNorm2d(4 * width)
        self.relu = nn.ReLU(inplace=True)
        self.down = (nn.Sequential(nn.Conv2d(cin, 4 * width, 1, stride, bias=False), nn.BatchNorm2d(4 * width))
                     if stride != 1 or cin != 4 * width else None)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.down(x) if self.down is not None else x))


def hand_resnet50() -> nn.Module:
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for blocks, width, stride in ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = 4 * width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)


def reference_resnet50(kind: str) -> nn.Module:
    if kind == "torchvision":
        import torchvision

        return torchvision.models.resnet50()
    return hand_resnet50()


def timed_steps(model, x, y, steps: int) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def step_speed(args) -> None:
    torch.manual_seed(0)
    dlae_model, _ = dlae_resnet50(args.size)
    reference = reference_resnet50(args.reference)
    x_last = torch.randn(args.batch, args.size, args.size, 3)
    x_first = x_last.permute(0, 3, 1, 2).contiguous()
    y = torch.randint(0, 1000, (args.batch,))
    runs = {"dlae": (dlae_model, x_last), args.reference: (reference, x_first)}
    for model, x in runs.values():
        timed_steps(model, x, y, 1)  # warm-up
    times = {name: [] for name in runs}
    ratios = []
    for pair in range(args.pairs):
        order = list(runs) if pair % 2 == 0 else list(runs)[::-1]
        for name in order:
            model, x = runs[name]
            times[name].append(timed_steps(model, x, y, args.steps))
        ratios.append(times[args.reference][-1] / times["dlae"][-1])
    for name, values in times.items():
        rate = args.batch * args.steps * len(values) / sum(values)
        print(f"{name:12s} {rate:7.2f} images/s  ({args.size}x{args.size}, batch {args.batch}, {args.threads} threads)")
    print(f"dlae / {args.reference}: median {statistics.median(ratios):.3f} (pairs {', '.join(f'{r:.3f}' for r in ratios)})")


def build_times(args) -> None:
    import subprocess
    import tempfile

    from dlae_core.cli.loading import load_and_plan

    registry = get_registry()
    for name in ("inceptionresnetv2_unet", "resnet152_unet"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "config.json"
            subprocess.run([sys.executable, "-m", "dlae_core.cli.main", "prebuilt", "new", name, "-o", str(path),
                            "--input-shape", f"({args.build_size}, {args.build_size}, 3)", "--weights", "none"],
                           check=True, capture_output=True)
            start = time.perf_counter()
            _, plan, _ = load_and_plan(str(path), check_data=False)
            planned = time.perf_counter() - start
            line = [f"{name} at {args.build_size}x{args.build_size}x3: plan {planned:.2f} s"]
            for backend in ("torch", "tensorflow"):
                if registry.backends[backend].missing():
                    continue
                engine = registry.backend(backend)
                engine.build_model(plan.main)  # the first build imports the framework
                start = time.perf_counter()
                engine.build_model(plan.main)
                line.append(f"{backend} build {time.perf_counter() - start:.2f} s")
            print(", ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference", choices=("torchvision", "hand"), default="torchvision")
    parser.add_argument("--builds", action="store_true")
    parser.add_argument("--build-size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.builds:
        build_times(args)
        return
    step_speed(args)


if __name__ == "__main__":
    main()
