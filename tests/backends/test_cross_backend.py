"""What needs every backend at once: the same weights (exchanged through the canonical layout) give the
same outputs, losses, updates and boxes; ``dlae check`` compares them; the backends write the same
predictions file; a model file of one backend is refused by another with a hint. Skipped unless every
backend is installed (the ``both_backends`` fixture)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from support import (BBD, BBD_SIZE, bbd_config, bbd_plan, cnn_layers, engine_of, error_lines, fcn_layers,
                     gan_config, gan_engines, invoke, make_config, make_data, predict, read_h5, save_to, tensor,
                     train, write_config)


# -- supervised sessions ---------------------------------------------------------------------------------
def test_predictions_file_has_the_same_layout_on_both_backends(tmp_path, both_backends):
    data = make_data(tmp_path / "data", "segmentation", n=16, size=8)
    files = {}
    for backend in both_backends:
        out = tmp_path / backend
        config = make_config("FCN", (8, 8, 1), fcn_layers(8), data, save_configurations=save_to(out),
                             training_configurations={"epochs": 1})
        train(backend, config, tmp_path / f"{backend}.json")
        predict(backend, tmp_path, config, out / "model.pt", data["test_X"], f"{backend}.h5")
        files[backend] = tmp_path / f"{backend}.h5"
    layouts = {}
    for backend, path in files.items():
        with h5py.File(path, "r") as handle:
            attributes = {k: (str(v) if k != "model" else Path(str(v)).name) for k, v in handle.attrs.items()}
            layouts[backend] = (attributes, {name: (ds.shape, ds.dtype) for name, ds in handle.items()})
    assert layouts["torch"][0].pop("backend") == "torch"
    assert layouts["tensorflow"][0].pop("backend") == "tensorflow"
    assert layouts["torch"] == layouts["tensorflow"]
    assert set(layouts["torch"][1]) == set(read_h5(data["test_X"]))


def test_a_torch_model_file_is_refused_by_tensorflow_with_a_hint(tmp_path, both_backends):
    data = make_data(tmp_path / "data", "classification", n=8, size=8)
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(tmp_path / "out"),
                         training_configurations={"epochs": 1})
    train("torch", config, tmp_path / "config.json")
    result = predict("tensorflow", tmp_path, config, tmp_path / "out" / "model.pt", data["test_X"], expect=2)
    lines = error_lines(result)
    assert len(lines) == 1 and "torch backend" in lines[0] and "--backend torch" in lines[0], lines


# -- GAN -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant,adversarial", [("pix2pix", "log"), ("cyclegan", "least_squares")])
def test_one_gan_update_is_the_same_on_both_backends(tmp_path, both_backends, variant, adversarial):
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    raw = gan_config(data, variant, adversarial=adversarial,
                     optimizer={"optimizer": "Adam", "discriminator_optimizer": "SGD:0.9:0.999:0.9:0.0:None",
                                "gan_optimizer": "SGD:0.9:0.999:0.9:0.0:None"})
    torch_engine, tf_engine = gan_engines(tmp_path, raw, ("torch", "tensorflow"))
    torch_backend, tf_backend = engine_of("torch"), engine_of("tensorflow")
    plan = torch_engine.run_info.plan
    pairs = [(torch_engine.generators, tf_engine.generators, plan.graphs["generator"]),
             (torch_engine.discriminators, tf_engine.discriminators, plan.graphs["discriminator"])]
    for torch_models, tf_models, graph in pairs:
        for role, model in torch_models.items():
            tf_backend.import_weights(tf_models[role], graph, torch_backend.export_weights(model, graph))
    batch = torch_engine.data.train[0], torch_engine.data.train[1], torch_engine.data.train[2]
    x = np.stack([item["x"] for item in batch])
    y = np.stack([item["y"] for item in batch])
    values = []
    for name, engine in (("torch", torch_engine), ("tensorflow", tf_engine)):
        engine.set_learning_rates(0.05, 0.05)
        tensors = {"x": tensor(name, x), "y": tensor(name, y)}
        values.append({**engine.discriminator_step(tensors), **engine.generator_step(tensors)})
    assert values[0].keys() == values[1].keys()
    for key in values[0]:
        assert values[0][key] == pytest.approx(values[1][key], rel=1e-4, abs=1e-6), key
    for torch_models, tf_models, graph in pairs:
        for role, model in torch_models.items():
            a, b = torch_backend.export_weights(model, graph), tf_backend.export_weights(tf_models[role], graph)
            for node in a:
                for name in a[node]:
                    assert np.allclose(a[node][name], b[node][name], rtol=1e-4, atol=1e-6), (role, node, name)
    roles = list(torch_engine.generators)
    assert np.allclose(torch_engine.generate(roles[0], x), tf_engine.generate(roles[0], x), atol=1e-5)


@pytest.mark.parametrize("variant", ["pix2pix", "cyclegan"])
def test_check_compares_generator_and_discriminator(tmp_path, both_backends, variant):
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    config = write_config(tmp_path / "c.json", gan_config(data, variant))
    result = invoke("check", config, "--backends", "torch,tensorflow")
    assert "generator" in result.stdout and "discriminator" in result.stdout
    assert "parity ok" in result.stdout


# -- BBD -------------------------------------------------------------------------------------------------
def test_check_compares_outputs_loss_and_decoded_boxes(tmp_path, both_backends):
    path = write_config(tmp_path / "c.json", bbd_config({}))
    for backends in ("torch,tensorflow", "tensorflow,torch"):
        result = invoke("check", path, "--backends", backends)
        assert "parity ok" in result.stdout and "decoded boxes" in result.stdout


def test_the_same_weights_give_the_same_boxes_on_both_backends(tmp_path, both_backends):
    from dlae_core.techniques.bbd.anchors import make_anchors
    from dlae_core.techniques.bbd.decode import decode
    from dlae_core.techniques.bbd.heads import head_specs, split_output
    from dlae_core.techniques.bbd.parity import check_bbd_parity

    config, plan, registry = bbd_plan(tmp_path, bbd_config({}))
    report = check_bbd_parity(config, plan, registry, ("torch", "tensorflow"), batch=3, seed=2)
    assert report.ok, report.problems()
    assert report.detections.counts[0] == report.detections.counts[1] > 0
    torch_backend, tf_backend = registry.backend("torch"), registry.backend("tensorflow")

    def build(backend):
        backend.seed(0)
        return backend.technique_implementation("BBD").build(plan.main, config.bbd_options)

    t_model, k_model = build(torch_backend), build(tf_backend)
    weights = torch_backend.export_weights(t_model, plan.main)
    for spec in head_specs(config.bbd_options, plan.main):  # confident class-1 scores, so decoding keeps boxes
        bias = weights[spec.class_name]["bias"]
        weights[spec.class_name]["bias"] = np.array([0.0, 3.0, 0.0] * (bias.size // 3), np.float32)
    torch_backend.import_weights(t_model, plan.main, weights)
    tf_backend.import_weights(k_model, plan.main, torch_backend.export_weights(t_model, plan.main))
    x = np.random.default_rng(0).random((2, BBD_SIZE, BBD_SIZE, 1)).astype(np.float32)
    anchors = make_anchors(config.bbd_options, (BBD_SIZE, BBD_SIZE), plan.main.hook_shapes())
    boxes = [decode(*split_output(backend.forward(m, [x])), anchors, config.bbd_options, (BBD_SIZE, BBD_SIZE))
             for backend, m in ((torch_backend, t_model), (tf_backend, k_model))]
    for a, b in zip(*boxes):
        assert 0 < len(a) == len(b) <= BBD["top_k"]
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
