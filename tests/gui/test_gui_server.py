"""The GUI's server without a browser: who may drive it, the forms it generates, checks placed at
fields with the CLI's own messages, saving in both value forms, the catalogs, and runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli
from dlae_core.config.parser import load_config
from dlae_core.config.schema import SECTIONS
from dlae_core.running.paths import resolve_relative_paths

from conftest import HOST, wait_until as _wait


def _resolved(path: Path, registry):
    """The config of ``path`` with every data and output path absolute and normalized."""
    from dlae_core.running.paths import INPUTS, OUTPUTS

    config = resolve_relative_paths(load_config(path, registry), path.parent)
    norm = lambda value: os.path.normpath(value) if value else value  # noqa: E731
    return config.evolve(paths={k: norm(getattr(config.paths, k)) for k in INPUTS},
                         save_configurations={k: norm(getattr(config.save_configurations, k)) for _, k, _ in OUTPUTS})


def _post(client, path, body, **headers):
    return client.post(client.prefix + path, json=body, headers={"Host": HOST, **headers})


def _get(client, path, **headers):
    return client.get(client.prefix + path, headers={"Host": HOST, **headers})


def _page(client, path):
    return _get(client, f"api/config?path={path}").get_json()["config"]


# -- who may drive it --------------------------------------------------------------------------------
def test_requests_without_the_right_token_are_refused(client):
    c = client()
    for path in ("/", "/api/describe", "/t/wrong-token/", "/t/wrong-token/api/describe", "/static/app.js"):
        answer = c.get(path, headers={"Host": HOST})
        assert answer.status_code == 403, path
        assert "token" in answer.get_json()["error"][0]
    assert _get(c, "").status_code == 200
    assert _get(c, "static/app.js").status_code == 200
    assert _get(c, "api/describe").status_code == 200


def test_another_host_or_origin_is_refused(client):
    c = client()
    assert _get(c, "api/describe", Host="evil.example:5000").status_code == 403  # DNS rebinding
    assert _get(c, "api/describe", Host="127.0.0.1:5001").status_code == 403
    assert _post(c, "api/new", {"technique": "FCN"}, Origin="http://evil.example").status_code == 403
    assert _post(c, "api/new", {"technique": "FCN"}, Origin="http://localhost:5000").status_code == 200
    assert _get(c, "api/describe", **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert _get(c, "api/describe", Host="localhost:5000").status_code == 200


def test_a_served_page_answers_only_with_its_token(tmp_path, gui_registry):
    from dlae_core.gui.serve import start_server

    server, url = start_server(None, port=0, state_dir=tmp_path / "state", registry=gui_registry)
    try:
        assert url.startswith("http://127.0.0.1:") and "/t/" in url
        with urllib.request.urlopen(url + "api/describe", timeout=10) as answer:
            assert json.load(answer)["techniques"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.split("/t/")[0] + "/api/describe", timeout=10)
        assert refused.value.code == 403
    finally:
        server.shutdown()


def test_dlae_gui_prints_its_address_on_one_line_and_stops_on_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys

    command = [sys.executable, "-m", "dlae_core.cli.main", "gui", "--no-browser", "--state-dir", str(tmp_path)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline().strip()
        prefix, url = line.rsplit(" ", 1)
        assert prefix == "dlae gui:" and url.startswith("http://127.0.0.1:") and "/t/" in url
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b'<script type="module" src="static/app.js">' in page.read()
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
        assert "stopped (runs started from the page go on" in server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_the_page_needs_nothing_from_the_network():
    from dlae_core.gui.server import STATIC

    svg_namespace = "http://www.w3.org/2000/svg"  # a name, not an address the browser loads
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert re.findall(r"(?:https?:)?//[\w.-]+\.\w+/", text.replace(svg_namespace, "")) == [], path.name
        assert "@import" not in text and "@font-face" not in text, path.name


def test_gui_command_is_registered():
    result = CliRunner().invoke(cli, ["gui", "--help"])
    assert result.exit_code == 0
    assert "--no-browser" in result.output and "--port" in result.output and "--host" in result.output


# -- forms from the schema and the registry ----------------------------------------------------------
def test_forms_come_from_the_schema_and_the_live_registry(client, gui_registry):
    info = _get(client(), "api/describe").get_json()
    keys = {s["name"]: {k["key"]: k for k in s["keys"]} for s in info["sections"]}
    assert {name: set(k) for name, k in keys.items()} == {
        name: {f.name for f in attrs.fields(cls)} for name, cls in SECTIONS.items()}
    assert keys["training_configurations"]["batch_size"]["widget"] == "integer"
    assert keys["training_configurations"]["batch_size"]["default"] == "32"
    assert keys["monitors"]["accuracy_switch"]["widget"] == "bool"
    assert set(keys["loss_function"]["loss"]["choices"]) == set(gui_registry.losses)
    assert keys["paths"]["train_X"]["widget"] == "path"
    layers = {layer["name"]: layer for layer in info["layers"]}
    assert set(layers) == set(gui_registry.layers)
    kernel = next(p for p in layers["Convolution 2D"]["params"] if p["name"] == "kernel")
    assert (kernel["widget"], kernel["length"], kernel["default"]) == ("tuple", 2, "(3, 3)")
    for name, layer_type in gui_registry.layers.items():  # plugin layers too, parameters in string order
        assert [p["name"] for p in layers[name]["params"]] == [p.name for p in layer_type.params]
    assert {b["name"] for b in info["backends"]} == set(gui_registry.backends)


def test_a_plugin_layer_appears_with_its_parameters(client):
    info = _get(client(), "api/describe").get_json()
    layers = {layer["name"]: layer for layer in info["layers"]}
    if "Squeeze excitation 2D" not in layers:
        pytest.skip("dlae-example-plugin is not installed")
    assert layers["Squeeze excitation 2D"]["params"]


# -- checks with the CLI's messages ------------------------------------------------------------------
def test_check_gives_the_inspect_rows_of_dlae_inspect(client, fcn_example):
    c = client()
    path = fcn_example / "config.json"
    answer = _post(c, "api/check", {"config": _page(c, path), "path": str(path)}).get_json()
    assert answer["ok"] and answer["problems"] == []
    cli_report = json.loads(CliRunner().invoke(cli, ["inspect", "--json", str(path)]).output)
    assert answer["inspect"]["layers"] == cli_report["layers"]
    assert answer["inspect"]["total_params"] == cli_report["total_params"]


def test_a_bad_value_is_reported_at_its_key_as_dlae_validate_says_it(client, fcn_example, tmp_path):
    c = client()
    page = _page(c, fcn_example / "config.json")
    page["training_configurations"]["batch_size"] = "zero"
    answer = _post(c, "api/check", {"config": page, "path": str(fcn_example / "config.json")}).get_json()
    assert not answer["ok"] and answer["inspect"] is None
    [found] = answer["problems"]
    assert found["where"] == "training_configurations.batch_size"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(page))
    printed = CliRunner().invoke(cli, ["validate", "--skip-data", str(bad)]).output
    assert f"error: {found['line']}" in printed


def test_a_shape_error_is_located_at_the_faulty_layer(client, fcn_example):
    c = client()
    page = _page(c, fcn_example / "config.json")
    layers = page["layers"]["serial_layer_list"]
    target = layers.index("Outer skip target:concatenate")
    del layers[target - 2]  # the resize convolution: the skip meets a tensor of half its size
    answer = _post(c, "api/check", {"config": page, "path": str(fcn_example / "config.json")}).get_json()
    [found] = answer["problems"]
    assert found["where"] == f"layers.serial_layer_list[{target - 1}]"
    assert "concatenate needs equal spatial shapes" in found["line"]
    report = answer["inspect"]
    assert report["partial"] and max(row["position"] for row in report["layers"]) < target - 1
    assert len(report["layers"]) >= target - 3


def test_validate_with_data_names_the_missing_file(client, fcn_example, tmp_path):
    c = client()
    page = _page(c, fcn_example / "config.json")
    page["paths"]["train_X"] = "data/absent.h5"
    answer = _post(c, "api/check", {"config": page, "path": str(fcn_example / "config.json"), "data": True,
                                    "backend": "torch"}).get_json()
    assert any(p["where"] == "paths.train_X" for p in answer["problems"]), answer["problems"]
    unknown = _post(c, "api/check", {"config": _page(c, fcn_example / "config.json"),
                                     "path": str(fcn_example / "config.json"), "backend": "nope"}).get_json()
    assert "unknown backend 'nope'" in unknown["problems"][0]["line"]


# -- dlae check from the page ------------------------------------------------------------------------
def test_dlae_check_compares_the_backends_on_the_pages_config(client, gui_registry, fcn_example):
    if any(gui_registry.backends[name].missing() for name in ("torch", "tensorflow")):
        pytest.skip("dlae check needs torch and tensorflow")
    c = client()
    path = fcn_example / "config.json"
    page = _page(c, path)
    report = _post(c, "api/check", {"config": page, "path": str(path)}).get_json()["inspect"]
    counts = f"{report['trainable_params']:,} / {report['non_trainable_params']:,}"
    answer = _post(c, "api/parity", {"config": page, "path": str(path)}).get_json()
    assert answer["exit_code"] == 0, answer["output"]
    assert answer["command"] == f"dlae check {path}"
    lines = answer["output"].splitlines()
    rows = {line.split()[1]: line for line in lines if line.startswith("│")}
    assert rows["parameters"].count(counts) == 3  # torch, tensorflow, and what dlae inspect expects
    assert rows["output"].count("(16, 16, 3)") == 3 and rows["outputs"].rstrip(" │").endswith("ok")
    assert "parity ok: torch and tensorflow agree within 0.0001" in lines
    assert not list(fcn_example.glob(".dlae-gui-*"))  # the page's config was written beside it, then removed


def test_dlae_check_from_the_page_says_what_is_wrong_with_its_config(client, fcn_example):
    c = client()
    path = fcn_example / "config.json"
    page = _page(c, path)
    layers = page["layers"]["serial_layer_list"]
    del layers[layers.index("Outer skip target:concatenate") - 2]  # a shape error: dlae check refuses it
    answer = _post(c, "api/parity", {"config": page, "path": str(path)}).get_json()
    assert answer["exit_code"] == 2
    [line] = answer["output"].splitlines()
    assert line.startswith("error: layers.serial_layer_list[") and "concatenate needs equal spatial shapes" in line
    assert ".dlae-gui-" not in answer["output"]
    page["training_configurations"]["batch_size"] = "zero"  # a value that does not parse: not run at all
    refused = _post(c, "api/parity", {"config": page, "path": str(path)})
    assert refused.status_code == 400
    assert refused.get_json()["problems"][0]["where"] == "training_configurations.batch_size"


# -- files -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["typed", "legacy"])
def test_a_saved_config_is_the_loaded_one_in_either_form(client, gui_registry, fcn_example, tmp_path, form):
    c = client()
    source = fcn_example / "config.json"
    target = tmp_path / "elsewhere" / "copy.json"
    answer = _post(c, "api/save", {"config": _page(c, source), "path": str(target), "form": form,
                                   "from_path": str(source)})
    assert answer.status_code == 200, answer.get_json()
    text = target.read_text()
    assert ('"(16, 16, 1)"' in text) == (form == "legacy")
    # relative paths were rewritten: the copy reads the same data files from its own folder
    assert _resolved(target, gui_registry) == _resolved(source, gui_registry)
    assert CliRunner().invoke(cli, ["validate", str(target)]).exit_code == 0


def test_saving_over_a_file_needs_overwrite(client, fcn_example, tmp_path):
    c = client()
    target = tmp_path / "config.json"
    target.write_text("{}")
    body = {"config": _page(c, fcn_example / "config.json"), "path": str(target), "from_path": None}
    refused = _post(c, "api/save", body)
    assert refused.status_code == 400 and "already exists" in refused.get_json()["error"][0]
    assert target.read_text() == "{}"
    assert _post(c, "api/save", {**body, "overwrite": True}).status_code == 200


def test_a_config_that_does_not_parse_is_not_saved(client, tmp_path):
    c = client()
    page = _post(c, "api/new", {"technique": "FCN"}).get_json()["config"]
    page["training_configurations"] = {"epochs": "many"}
    refused = _post(c, "api/save", {"config": page, "path": str(tmp_path / "x.json")})
    assert refused.status_code == 400
    assert refused.get_json()["problems"][0]["where"] == "training_configurations.epochs"
    assert not (tmp_path / "x.json").exists()


def test_a_hand_written_config_loads_without_loss(client, gui_registry, tmp_path):
    raw = {"config_file": {"model_signal": "CNN", "type_signal": "Train", "input_shape": [8, 8, 3]},
           "optimizer": {"epsilon": None, "gan_optimizer": "Adam:0.5:0.999:0.9:0.0:None"},
           "bbd_options": {"steps": None, "aspect_ratios": [[1.0, 2.0], [0.5]]},
           "layers": {"serial_layer_list": ["Input:(8, 8, 3)", {"type": "Convolution 2D", "filters": 4, "kernel": 3},
                                            "Flatten", {"type": "Dense", "units": 2}, "Activation:softmax"]}}
    source = tmp_path / "hand.json"
    source.write_text(json.dumps(raw))
    c = client()
    page = _page(c, source)
    assert page["layers"]["serial_layer_list"][1].startswith("Convolution 2D:4:(3, 3):")
    _post(c, "api/save", {"config": page, "path": str(tmp_path / "saved.json"), "from_path": str(source)})
    assert load_config(tmp_path / "saved.json", gui_registry) == load_config(source, gui_registry)


def test_the_path_picker_lists_folders_and_images_are_only_a_runs(client, fcn_example):
    c = client()
    listing = _get(c, f"api/files?folder={fcn_example}").get_json()
    assert {"name": "data", "dir": True} in listing["entries"]
    assert {"name": "config.json", "dir": False} in listing["entries"]
    refused = _get(c, f"api/image?path=/etc/passwd&config={fcn_example / 'config.json'}")
    assert refused.status_code == 404


# -- catalogs ----------------------------------------------------------------------------------------
def test_new_configs_from_the_catalog_an_example_or_nothing(client, tmp_path):
    c = client()
    names = {e["name"] for e in _get(c, "api/prebuilt").get_json()}
    assert {"unet2d", "resnet50_unet", "pix2pix"} <= names
    page = _post(c, "api/prebuilt", {"name": "unet2d", "input_shape": "(64, 64, 1)", "classes": 3}).get_json()["config"]
    checked = _post(c, "api/check", {"config": page}).get_json()
    assert checked["ok"], checked["problems"]
    assert checked["inspect"]["models"]["model"]["output_shape"] == [64, 64, 3]
    bad = _post(c, "api/prebuilt", {"name": "unet2d", "input_shape": "(64, 64)"})
    assert bad.status_code == 400 and "--input-shape" in bad.get_json()["error"][0]
    example = _post(c, "api/examples", {"name": "cnn", "folder": str(tmp_path / "cnn")}).get_json()
    assert Path(example["path"]).is_file() and (tmp_path / "cnn" / "data").is_dir()
    encoder = _post(c, "api/prebuilt", {"name": "resnet50_unet", "input_shape": "(64, 64, 1)", "classes": 3}).get_json()
    checked = _post(c, "api/check", {"config": encoder["config"]}).get_json()
    assert checked["ok"], checked["problems"]
    [network] = [row for row in checked["inspect"]["layers"] if row["op"] == "network"]  # the pretrained encoder
    assert network["output_shape"] == [2, 2, 2048] and network["type"].startswith("pretrained network")
    assert checked["inspect"]["models"]["model"]["output_shape"] == [64, 64, 3]
    new = _post(c, "api/new", {"technique": "GAN"}).get_json()["config"]
    assert new["layers"]["generator_layer_list"] == ["Input:(64, 64, 1)"]


# -- runs --------------------------------------------------------------------------------------------
def test_progress_is_read_from_the_log():
    from dlae_core.gui.progress import read_progress

    log = ("note: no CUDA GPU found; training on the CPU\n"
           "epoch 1/3: loss 0.44 accuracy 0.83 val_loss nan | 52.5 samples/s, data wait 12% | checkpoint saved\n"
           "epoch 2/3, step 4/12 (33%), ETA 0:00:09: loss 0.3 | 50.0 samples/s, data wait 1%\n"
           "error: paths.train_X: the file does not exist.\n")
    found = read_progress(log)
    assert found["epochs"] == [{"epoch": 1, "of": 3, "metrics": {"loss": 0.44, "accuracy": 0.83, "val_loss": None},
                                "notes": ["52.5 samples/s, data wait 12%", "checkpoint saved"]}]
    assert found["step"]["step"] == 4 and found["step"]["steps"] == 12 and found["step"]["eta"] == "0:00:09"
    assert found["errors"] == ["error: paths.train_X: the file does not exist."]



def test_a_run_is_started_found_again_and_stopped_keeping_its_checkpoint(client, gui_registry, fcn_example, tmp_path):
    if gui_registry.backends["torch"].missing():
        pytest.skip("torch is not installed")
    folder = tmp_path / "exp"
    shutil.copytree(fcn_example, folder)
    raw = json.loads((folder / "config.json").read_text())
    raw["training_configurations"].update(epochs=500, early_stop_switch=False)
    (folder / "config.json").write_text(json.dumps(raw))
    c = client()
    run = _post(c, "api/runs", {"path": str(folder / "config.json"), "backend": "torch"}).get_json()
    read = lambda: _get(c, f"api/runs/{run['id']}").get_json()  # noqa: E731
    _wait(lambda: len(read()["epochs"]) >= 1, 120, "the first epoch")
    other = client()  # another page / a restarted server finds the run in the state folder
    assert [r["id"] for r in _get(other, "api/runs").get_json()] == [run["id"]]
    assert _post(other, f"api/runs/{run['id']}/stop", {}).status_code == 200
    done = _wait(lambda: (lambda r: r if r["state"] == "finished" else None)(read()), 60, "the run to end")
    assert done["exit_code"] == 130
    assert "interrupted" in done["log"]
    assert len(done["epochs"]) < 500
    assert (folder / "out" / "best.pt").is_file()  # the last checkpoint is kept
    assert _post(c, f"api/runs/{run['id']}/stop", {}).status_code == 400  # not running any more
    assert _get(c, "api/runs/unknown-run").status_code == 404
