"""The ImageNet weights files of the pretrained encoders: the table, and finding/downloading a file
(served by a local HTTP server; nothing here reaches the internet)."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import re
import socket
import threading
from pathlib import Path

import attrs
import pytest

from dlae_core.errors import DlaeError
from dlae_core.pretrained import download
from dlae_core.pretrained.download import WeightsDownloadError, find_weights, weights_dir
from dlae_core.pretrained.weight_files import (NETWORK_NAMES, THIRD_PARTY_HASHES, WEIGHT_FILES,
                                               WeightFile)

NETWORK = "ResNet50"
FILE_NAME = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
PAYLOAD = bytes(range(256)) * 4099  # ~1 MB, not a multiple of the download chunk


# ------------------------------------------------------------------------------------------ server

class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]
    lie_about_length = False

    def do_GET(self):
        self.requests.append(self.path)
        if self.lie_about_length:  # announce more bytes than are sent, then close
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD) + 1000))
            self.end_headers()
            self.wfile.write(PAYLOAD[:1000])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over ``tmp_path/served``; yields an object with ``url``, ``folder``,
    ``requests`` (paths asked for) and ``handler`` (the handler class, to change its behaviour)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = type("Handler", (_Handler,), {"requests": []})

    def make(*args, **kwargs):
        return handler(*args, directory=str(served), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    info = type("Served", (), {})()
    info.url = f"http://127.0.0.1:{httpd.server_address[1]}/weights"
    info.folder, info.requests, info.handler = served, handler.requests, handler
    try:
        yield info
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def weights_folder(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    monkeypatch.setenv("DLAE_WEIGHTS_DIR", str(folder))
    return folder


def _set_hash(monkeypatch, file_hash, network=NETWORK, include_top=False):
    key = (network, include_top)
    monkeypatch.setitem(WEIGHT_FILES, key, attrs.evolve(WEIGHT_FILES[key], file_hash=file_hash))


@pytest.fixture
def mirror(server, weights_folder, monkeypatch):
    """The payload served as ResNet50's notop file, the table's hash set to it, the mirror and the
    weights folder pointed at the server and ``tmp_path``."""
    (server.folder / "weights").mkdir()
    (server.folder / "weights" / FILE_NAME).write_bytes(PAYLOAD)
    _set_hash(monkeypatch, hashlib.md5(PAYLOAD).hexdigest())
    monkeypatch.setenv("DLAE_WEIGHTS_BASE_URL", server.url + "/")
    return server


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _assert_one_line_naming(message: str, *parts: str) -> None:
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


# ------------------------------------------------------------------------------------------ table

def test_the_table_has_both_files_of_all_18_networks():
    assert len(NETWORK_NAMES) == 18
    assert set(WEIGHT_FILES) == {(n, top) for n in NETWORK_NAMES for top in (True, False)}
    for (network, include_top), entry in WEIGHT_FILES.items():
        assert (entry.network, entry.include_top) == (network, include_top)
        assert entry.file_name.endswith(".h5")
        assert entry.url.startswith("https://") and entry.url.endswith("/" + entry.file_name)
        if entry.file_hash is not None:
            assert re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{64}", entry.file_hash), entry


@pytest.mark.parametrize("network, stem", [
    ("Xception", "xception"), ("VGG16", "vgg16"), ("VGG19", "vgg19"), ("ResNet50", "resnet50"),
    ("ResNet101", "resnet101"), ("ResNet152", "resnet152"), ("ResNet50V2", "resnet50v2"),
    ("ResNet101V2", "resnet101v2"), ("ResNet152V2", "resnet152v2"), ("ResNeXt50", "resnext50"),
    ("ResNeXt101", "resnext101"), ("InceptionV3", "inception_v3"),
    ("InceptionResNetV2", "inception_resnet_v2"), ("DenseNet121", "densenet121"),
    ("DenseNet169", "densenet169"), ("DenseNet201", "densenet201")])
def test_keras_file_names(network, stem):
    assert WEIGHT_FILES[(network, True)].file_name == f"{stem}_weights_tf_dim_ordering_tf_kernels.h5"
    assert WEIGHT_FILES[(network, False)].file_name == f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    base = ("https://github.com/keras-team/keras-applications/releases/download/resnet/"
            if network.startswith("ResNeXt") else "https://storage.googleapis.com/tensorflow/keras-applications/")
    assert WEIGHT_FILES[(network, False)].url.startswith(base)


def test_mobilenet_file_names_are_alpha_1_rows_224():
    assert WEIGHT_FILES[("MobileNet", True)].file_name == "mobilenet_1_0_224_tf.h5"
    assert WEIGHT_FILES[("MobileNet", False)].file_name == "mobilenet_1_0_224_tf_no_top.h5"
    stem = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224"
    assert WEIGHT_FILES[("MobileNetV2", True)].file_name == stem + ".h5"
    assert WEIGHT_FILES[("MobileNetV2", False)].file_name == stem + "_no_top.h5"


def _keras_applications_source() -> str | None:
    spec = importlib.util.find_spec("keras")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "src" / "applications"
    return "\n".join(p.read_text() for p in sorted(folder.glob("*.py"))) if folder.is_dir() else None


def test_hashes_and_urls_are_the_installed_keras_ones():
    """Where Keras verifies a hash, the table's is Keras' (read from the installed source, not imported)."""
    source = _keras_applications_source()
    if source is None:
        pytest.skip("keras is not installed")
    for entry in WEIGHT_FILES.values():
        if entry.file_name in THIRD_PARTY_HASHES:
            continue  # Keras verifies no hash for the MobileNets
        assert entry.file_hash in source, entry
        if not entry.network.startswith("ResNeXt"):  # not in Keras 3: keras-applications 1.0.8's URL
            folder_url = entry.url[: -len(entry.file_name)]
            assert folder_url.split("keras-applications/")[1] in source, entry


def test_unknown_network_suggests_the_closest_name():
    with pytest.raises(WeightsDownloadError, match=r"unknown pretrained network 'resnet50'.*did you mean 'ResNet50'"):
        find_weights("resnet50", False)
    assert issubclass(WeightsDownloadError, DlaeError)


# ------------------------------------------------------------------------------------------ folders

def test_default_folder_is_keras_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("DLAE_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert weights_dir() == tmp_path / "kh" / "models"
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weights_dir() == tmp_path / ".keras" / "models"
    monkeypatch.setenv("DLAE_WEIGHTS_DIR", str(tmp_path / "mine"))
    assert weights_dir() == tmp_path / "mine"


def test_file_in_keras_home_is_used_without_a_request(mirror, monkeypatch, tmp_path):
    monkeypatch.delenv("DLAE_WEIGHTS_DIR")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    (tmp_path / "kh" / "models").mkdir(parents=True)
    (tmp_path / "kh" / "models" / FILE_NAME).write_bytes(PAYLOAD)
    assert find_weights(NETWORK, False, progress=False) == tmp_path / "kh" / "models" / FILE_NAME
    assert mirror.requests == []


# ------------------------------------------------------------------------------------------ download

def test_downloads_once_then_uses_the_file(mirror, weights_folder):
    path = find_weights(NETWORK, False, progress=False)
    assert path == weights_folder / FILE_NAME
    assert path.read_bytes() == PAYLOAD
    assert mirror.requests == [f"/weights/{FILE_NAME}"]
    assert _leftovers(weights_folder) == [FILE_NAME]  # no temporary file left
    assert find_weights(NETWORK, False, progress=False) == path
    assert len(mirror.requests) == 1


def test_present_file_is_used_without_a_request(mirror, weights_folder):
    weights_folder.mkdir()
    (weights_folder / FILE_NAME).write_bytes(PAYLOAD)
    assert find_weights(NETWORK, False, progress=False) == weights_folder / FILE_NAME
    assert mirror.requests == []


def test_sha256_hashes_are_verified_too(mirror, weights_folder, monkeypatch):
    _set_hash(monkeypatch, hashlib.sha256(PAYLOAD).hexdigest())
    assert find_weights(NETWORK, False, progress=False).read_bytes() == PAYLOAD


def test_hash_mismatch_of_a_download_leaves_nothing(mirror, weights_folder, monkeypatch):
    _set_hash(monkeypatch, "0" * 32)
    with pytest.raises(WeightsDownloadError) as caught:
        find_weights(NETWORK, False, progress=False)
    _assert_one_line_naming(str(caught.value), FILE_NAME, f"{mirror.url}/{FILE_NAME}", str(weights_folder),
                            "0" * 32, hashlib.md5(PAYLOAD).hexdigest())
    assert _leftovers(weights_folder) == []


def test_corrupt_present_file_is_reported_not_replaced(mirror, weights_folder):
    weights_folder.mkdir()
    (weights_folder / FILE_NAME).write_bytes(PAYLOAD[:-1])
    with pytest.raises(WeightsDownloadError) as caught:
        find_weights(NETWORK, False, progress=False)
    _assert_one_line_naming(str(caught.value), FILE_NAME, str(weights_folder), f"{mirror.url}/{FILE_NAME}",
                            "delete")
    assert (weights_folder / FILE_NAME).read_bytes() == PAYLOAD[:-1]
    assert mirror.requests == []


def test_http_404_is_a_clean_error(mirror, weights_folder):
    (mirror.folder / "weights" / FILE_NAME).unlink()
    with pytest.raises(WeightsDownloadError) as caught:
        find_weights(NETWORK, False, progress=False)
    message = str(caught.value)
    _assert_one_line_naming(message, f"could not download {FILE_NAME} from {mirror.url}/{FILE_NAME} into "
                            f"{weights_folder}: HTTP 404", "DLAE_WEIGHTS_BASE_URL")
    assert _leftovers(weights_folder) == []


def test_unreachable_server_is_a_clean_error(weights_folder, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DLAE_WEIGHTS_BASE_URL", f"http://127.0.0.1:{port}/w")
    with pytest.raises(WeightsDownloadError) as caught:
        find_weights(NETWORK, False, progress=False)
    _assert_one_line_naming(str(caught.value), f"could not download {FILE_NAME} from http://127.0.0.1:{port}/w/"
                            f"{FILE_NAME} into {weights_folder}", "refused")
    assert _leftovers(weights_folder) == []


def test_truncated_download_is_a_clean_error(mirror, weights_folder):
    mirror.handler.lie_about_length = True
    with pytest.raises(WeightsDownloadError, match="closed after 1000 of"):
        find_weights(NETWORK, False, progress=False)
    assert _leftovers(weights_folder) == []


def test_interrupted_download_leaves_no_temporary_file(mirror, weights_folder, monkeypatch):
    def interrupt(self, size):
        raise KeyboardInterrupt

    monkeypatch.setattr(download._Report, "advance", interrupt)
    with pytest.raises(KeyboardInterrupt):
        find_weights(NETWORK, False, progress=False)
    assert _leftovers(weights_folder) == []


def test_unwritable_folder_is_a_clean_error(mirror, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")  # works as root too, unlike chmod
    monkeypatch.setenv("DLAE_WEIGHTS_DIR", str(blocker / "weights"))
    with pytest.raises(WeightsDownloadError) as caught:
        find_weights(NETWORK, False, progress=False)
    _assert_one_line_naming(str(caught.value), f"cannot write {FILE_NAME} into {blocker / 'weights'}",
                            f"{mirror.url}/{FILE_NAME}", "DLAE_WEIGHTS_DIR")
    assert mirror.requests == []


def test_progress_off_a_terminal_is_one_line(mirror, weights_folder, capsys):
    find_weights(NETWORK, False, progress=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and FILE_NAME in err


def test_progress_bar_on_a_terminal(mirror, weights_folder, monkeypatch, capsys):
    monkeypatch.setattr(download, "_stderr_is_terminal", lambda: True)
    assert find_weights(NETWORK, False, progress=True).read_bytes() == PAYLOAD
    assert FILE_NAME in capsys.readouterr().err


def test_no_output_without_progress(mirror, weights_folder, capsys):
    find_weights(NETWORK, False, progress=False)
    assert capsys.readouterr().err == ""


def test_weight_file_entries_are_frozen():
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        WEIGHT_FILES[(NETWORK, False)].file_hash = None  # type: ignore[misc]
    assert isinstance(WEIGHT_FILES[(NETWORK, False)], WeightFile)
