"""The page's server (Flask): the page and its assets, and a JSON API under ``/t/<token>/``.

Every request is checked by :mod:`.security` before it is routed. User errors (a DlaeError) are
answered 400 with the CLI's own lines; an unknown run is 404. The routes are thin: the work is
done by :mod:`.describe`, :mod:`.editing`, :mod:`.files`, :mod:`.runs`, :mod:`.tensorboard` and the
CLI's modules.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, jsonify, request, send_from_directory

from dlae_core import __version__
from dlae_core.errors import DlaeError, ProblemsError
from dlae_core.gui import catalog, editing, files
from dlae_core.gui.describe import describe
from dlae_core.gui.runs import RunStore
from dlae_core.gui.security import refusal
from dlae_core.gui.tensorboard import TensorBoards

STATIC = Path(__file__).parent / "static"


class Session:
    """What one server holds: the registry, the run store and the config it was started with."""

    def __init__(self, registry, state_dir: Path, config_path: str | None, workdir: Path):
        self.registry, self.workdir = registry, workdir
        self.runs = RunStore(state_dir)
        self.tensorboards = TensorBoards(state_dir)
        self.config_path = str(Path(config_path).resolve()) if config_path else None


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, "expected a JSON object")
    return data


def _folder(data: dict, session: Session) -> Path:
    """The folder relative paths are taken from: the config file's, else the server's working folder."""
    path = data.get("path")
    return Path(path).resolve().parent if path else session.workdir


def create_app(session: Session, token: str, hosts: set[str]) -> Flask:
    """The Flask app of one server; ``hosts`` are the Host header values it answers."""
    app = Flask(__name__, static_folder=None)
    prefix = f"/t/{token}"

    @app.before_request
    def guard():
        parts = request.path.split("/")
        given = parts[2] if len(parts) > 2 and parts[1] == "t" else None
        why = refusal(request.headers, given, token, hosts)
        if why:
            return jsonify(error=[why]), 403
        return None

    @app.errorhandler(DlaeError)
    def user_error(exc: DlaeError):
        problems = [editing.problem_json(p) for p in exc.problems] if isinstance(exc, ProblemsError) else []
        return jsonify(error=exc.lines(), problems=problems), 400

    @app.errorhandler(KeyError)
    def unknown(exc: KeyError):
        return jsonify(error=[f"unknown: {exc.args[0] if exc.args else ''}"]), 404

    @app.get(prefix + "/")
    def page():
        return send_from_directory(STATIC, "index.html")

    @app.get(prefix + "/static/<path:name>")
    def asset(name: str):
        return send_from_directory(STATIC, name)

    @app.get(prefix + "/api/describe")
    def api_describe():
        info = describe(session.registry)
        info.update(version=__version__, config_path=session.config_path, workdir=str(session.workdir))
        return jsonify(info)

    @app.get(prefix + "/api/config")
    def api_config():
        path = request.args["path"]
        page = editing.read_config_file(path, session.registry)
        return jsonify(config=page, path=str(Path(path).resolve()))

    @app.post(prefix + "/api/check")
    def api_check():
        data = _body()
        return jsonify(editing.check_page(data["config"], _folder(data, session), session.registry,
                                          data=bool(data.get("data")), backend=data.get("backend") or None))

    @app.post(prefix + "/api/text")
    def api_text():
        data = _body()
        return jsonify(text=editing.config_text(data["config"], session.registry, form=data.get("form", "typed")))

    @app.post(prefix + "/api/save")
    def api_save():
        data = _body()  # path: where to write; from_path: where the page's config came from (None: new)
        old_folder = _folder({"path": data.get("from_path")}, session)
        return jsonify(files.save_config(data["config"], data["path"], session.registry, form=data.get("form", "typed"),
                                         old_folder=old_folder, overwrite=bool(data.get("overwrite"))))

    @app.get(prefix + "/api/files")
    def api_files():
        return jsonify(files.list_folder(request.args.get("folder") or str(session.workdir)))

    @app.get(prefix + "/api/prebuilt")
    def api_prebuilt_list():
        return jsonify(catalog.prebuilt_entries())

    @app.post(prefix + "/api/prebuilt")
    def api_prebuilt_new():
        data = _body()
        return jsonify(config=catalog.prebuilt_config(data["name"], data.get("input_shape"), data.get("classes"),
                                                      data.get("weights"), session.registry))

    @app.get(prefix + "/api/examples")
    def api_examples():
        return jsonify(catalog.example_names())

    @app.post(prefix + "/api/examples")
    def api_example_new():
        data = _body()
        path = catalog.write_example(data["name"], data["folder"], bool(data.get("overwrite")))
        return jsonify(config=editing.read_config_file(path, session.registry), path=str(path))

    @app.post(prefix + "/api/new")
    def api_new():
        return jsonify(config=catalog.new_config(_body().get("technique", "FCN"), session.registry))

    @app.post(prefix + "/api/parity")
    def api_parity():
        data = _body()
        return jsonify(files.run_cli_on_page(["check"], data["config"], _folder(data, session), session.registry,
                                             data.get("path")))

    @app.post(prefix + "/api/tensorboard")
    def api_tensorboard():
        data = _body()
        logdir = files.tensorboard_folder(data["config"], _folder(data, session), session.registry)
        return jsonify(url=session.tensorboards.open(logdir), logdir=str(logdir))

    _run_routes(app, prefix, session)
    return app


def _run_routes(app: Flask, prefix: str, session: Session) -> None:
    runs = session.runs

    @app.get(prefix + "/api/runs")
    def api_runs():
        return jsonify(runs.list())

    @app.post(prefix + "/api/runs")
    def api_run_start():
        data = _body()
        return jsonify(runs.start(data["path"], data.get("backend", "torch"), overwrite=bool(data.get("overwrite")),
                                  resume=bool(data.get("resume"))))

    @app.get(prefix + "/api/runs/<run_id>")
    def api_run(run_id: str):
        out = runs.read(run_id, int(request.args.get("offset", 0)))
        out["images"] = files.run_images(out["config"], session.registry)
        out["samples"] = files.run_samples(out["config"], session.registry)
        return jsonify(out)

    @app.post(prefix + "/api/runs/<run_id>/stop")
    def api_run_stop(run_id: str):
        return jsonify(runs.stop(run_id))

    @app.get(prefix + "/api/image")
    def api_image():
        path = files.image_path(request.args["path"], request.args["config"], session.registry)
        return send_from_directory(path.parent, path.name, max_age=0)
