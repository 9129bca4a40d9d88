"""Config fuzzer: mutated configs through parse + plan + ``dlae validate --skip-data``, in-process.

Every outcome must be a success or a DlaeError (one located line per problem, exit code 2); any
other exception is a traceback, i.e. a bug. The bases are the example configs of ``configs/`` and
the typed minimal config of ``tests/conftest.py``, each in the typed form and in the original
all-strings form (``dlae convert --legacy``). Each fuzzed config gets 1-4 mutations: wrong types,
huge and non-finite numbers (``"inf"``, ``"1e309"``, JSON ``NaN``/``Infinity``/``1e309``, integers
of 5,000 digits), deleted and unknown keys and sections, garbage layer strings and objects, skip
markers in random places, plausible numbers changed anywhere (odd layer sizes), random Input shapes,
and deep nesting (up to 100,000 levels). A config that parses must hold no NaN or infinite number,
and is written back in both forms (``dlae convert``) and must read back to the same config.

    python benchmarks/fuzz_configs.py --count 5000 --seed 1      # prints "N configs, K tracebacks"

``tests/test_config_fuzz.py`` runs a few hundred of these with a fixed seed.
"""

from __future__ import annotations

import argparse
import collections
import copy
import importlib.util
import json
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Placeholders replaced in the JSON text (json.dumps cannot write them).
HUGE, NEG_HUGE, BIG_INT = "\u0000HUGE", "\u0000NEGHUGE", "\u0000BIGINT"
DEEP = "\u0000DEEP"  # followed by the depth

TYPED_VALUES = [
    True, False, None, 0, 1, -1, 2, 3, 0.5, -0.5, 1.5, 1e-320, 1e308, -1e308, 10 ** 20, -(10 ** 20), 2 ** 63,
    HUGE, NEG_HUGE, BIG_INT, float("nan"), float("inf"), float("-inf"),
    [], {}, [1], [1, 2], [0, 0], [-1, 2], [1.5, "x"], [[1, 2], [3]], [[1, 2], [3, 4]], [float("inf"), 1],
    [HUGE, 2], [1, 2, 3, 4], [8, 8, 3], [0, 8, 3], [10 ** 9, 10 ** 9, 3], {"a": 1}, {"learning_rate": HUGE},
    {"optimizer": "Adam", "beta1": float("nan")},
]
TEXT_VALUES = [
    "", " ", "abc", "None", "True", "False", "true", "inf", "-inf", "nan", "NaN", "Infinity", "1e309", "-1e309",
    "1e-320", "(1e309, 1)", "(1, nan)", "(1, 1e309)", "((((", "))", "1:2", "a:b:c", "0.0001:inf", "inf:0.0",
    "nan:0", "Adam:0.9:0.999:0.9:0.0:None", "Adam:inf:0.999:0.9:0.0:None", "SGD:0.9:0.999:0.9:1e309:None",
    "Adam:0.9:0.999:0.9:0.0:nan", "\u0000", "\u00e9", "9" * 400, "9" * 5000, "-1", "0", "1.5", "0.5, 0.5",
    "inf, 1", "1, 1e309", "(3, 3)", "[1, 2]", "(512, 512, 1)", "(0, 0, 1)", "(1e309,)", "__import__('os')",
    "{1: 2}", "(" * 300 + ")" * 300, "[" * 50 + "]" * 50, "0x10", "1_000", "-0.0",
]
FIELD_VALUES = [
    "", "1", "-1", "0", "2", "16", "inf", "nan", "1e309", "-1e309", "0.5", "1.5", "(3, 3)", "(0, 0)", "(1e309, 1)",
    "(3, 3, 3)", "same", "valid", "relu", "softmax", "linear", "None", "True", "False", "x", "((1, 1), (1, 1))",
    "9" * 30, "9" * 5000, "(-1,)", "(2, 1, 3)", "(262144, 1)", "concatenate", "add", "he_normal", "l1", "l2",
    "imagenet", "none", "(96, 96, 3)", "(" * 200, "\u0000", " ", "(8, 8, 3)", "1:2",
]
JUNK_CHARS = ":(),. abcXYZ0123456789-e[]{}'\"\\\u00e9\u0000"


def load_conftest_minimal():
    """The typed minimal config of tests/conftest.py (None when it cannot be imported)."""
    try:
        spec = importlib.util.spec_from_file_location("_dlae_fuzz_conftest", ROOT / "tests" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module._minimal_typed_config()
    except Exception:  # noqa: BLE001 - pytest missing: fuzz the example configs only
        return None


def base_configs(registry, minimal: dict | None = None) -> list[tuple[str, dict]]:
    """(name, config dict) of every base: configs/*.json and the minimal config, typed and legacy."""
    from dlae_core.config.convert import config_to_dict
    from dlae_core.config.parser import parse_config

    typed = [(p.stem, json.loads(p.read_text())) for p in sorted((ROOT / "configs").glob("*.json"))]
    if minimal is not None:
        typed.append(("minimal", minimal))
    out = []
    for name, raw in typed:
        out.append((name, raw))
        config = parse_config(copy.deepcopy(raw), registry)
        out.append((f"{name}-legacy", config_to_dict(config, registry, legacy=True)))
    return out


class Mutator:
    """Random mutations of one config dict (seeded)."""

    def __init__(self, rng: random.Random, registry):
        from dlae_core.config.schema import LAYER_LISTS, SECTIONS

        self.rng, self.registry = rng, registry
        self.sections, self.layer_lists = SECTIONS, LAYER_LISTS
        self.layer_names = sorted(registry.layers)
        self.param_names = sorted({p.name for t in registry.layers.values() for p in getattr(t, "params", ())})

    # -- values --------------------------------------------------------------------------------
    def value(self):
        rng = self.rng
        pick = rng.random()
        if pick < 0.45:
            return copy.deepcopy(rng.choice(TYPED_VALUES))
        if pick < 0.9:
            return rng.choice(TEXT_VALUES)
        if pick < 0.95:
            return f"{DEEP}{rng.choice([2, 5, 40, 200, 900, 5000, 100000])}"
        return self.junk()

    def junk(self) -> str:
        return "".join(self.rng.choice(JUNK_CHARS) for _ in range(self.rng.randint(0, 30)))

    # -- mutations -----------------------------------------------------------------------------
    def mutate(self, config: dict) -> list[str]:
        done = []
        for _ in range(self.rng.choice([1, 1, 1, 1, 1, 2, 2, 2, 3, 4])):
            operation = self.rng.choice(self.OPERATIONS)
            done.append(operation(self, config))
        return done

    def _section(self, config: dict) -> tuple[str, dict]:
        name = self.rng.choice(list(self.sections))
        section = config.get(name)
        if not isinstance(section, dict):
            section = config[name] = {}
        return name, section

    def _field(self, section_name: str) -> str:
        import attrs

        return self.rng.choice([f.name for f in attrs.fields(self.sections[section_name])])

    def set_key(self, config: dict) -> str:
        name, section = self._section(config)
        key = self._field(name)
        section[key] = self.value()
        return f"set {name}.{key}"

    def set_number(self, config: dict) -> str:
        name, section = self._section(config)
        key = self._field(name)
        section[key] = self.rng.choice([HUGE, NEG_HUGE, BIG_INT, float("nan"), float("inf"), float("-inf"),
                                        "inf", "1e309", "nan", "-inf", 1e308, -1e308, 10 ** 30, 0, -1])
        return f"number {name}.{key}"

    def delete_key(self, config: dict) -> str:
        name, section = self._section(config)
        if section:
            key = self.rng.choice(list(section))
            del section[key]
            return f"delete {name}.{key}"
        del config[name]
        return f"delete {name}"

    def unknown_key(self, config: dict) -> str:
        if self.rng.random() < 0.3:
            config[self.junk() or "extra"] = self.value()
            return "unknown section"
        name, section = self._section(config)
        section[self.junk() or "extra"] = self.value()
        return f"unknown key in {name}"

    def replace_section(self, config: dict) -> str:
        name = self.rng.choice(list(self.sections) + ["layers"])
        config[name] = self.rng.choice([None, 1, "abc", [], [1, {}], f"{DEEP}300", float("nan")])
        return f"replace section {name}"

    @staticmethod
    def _dict(config: dict, name: str) -> dict:
        if not isinstance(config.get(name), dict):
            config[name] = {}
        return config[name]

    def choices(self, config: dict) -> str:
        rng = self.rng
        target = rng.choice(["model_signal", "type_signal", "loss", "optimizer", "normalization"])
        if target == "model_signal":
            self._dict(config, "config_file")["model_signal"] = rng.choice(sorted(self.registry.techniques))
        elif target == "type_signal":
            self._dict(config, "config_file")["type_signal"] = rng.choice(
                ["Train", "Inference", "Train from Checkpoint"])
        elif target == "loss":
            self._dict(config, "loss_function")["loss"] = rng.choice(sorted(self.registry.losses))
        elif target == "optimizer":
            self._dict(config, "optimizer")["optimizer"] = rng.choice(sorted(self.registry.optimizers))
        else:
            from dlae_core.config.schema import NORMALIZATIONS

            self._dict(config, "preprocessing")["normalization_type"] = rng.choice(NORMALIZATIONS)
            config["preprocessing"]["categorical_switch"] = rng.choice([True, False, "True", "False"])
        return f"choice {target}"

    def _layers(self, config: dict) -> list:
        layers = config.get("layers")
        if not isinstance(layers, dict):
            layers = config["layers"] = {}
        used = [k for k in self.layer_lists if isinstance(layers.get(k), list) and layers[k]]
        name = self.rng.choice(used or list(self.layer_lists))
        if not isinstance(layers.get(name), list):
            layers[name] = []
        return layers[name]

    def layer_string(self) -> str:
        rng = self.rng
        name = rng.choice(self.layer_names) if rng.random() < 0.85 else self.junk()
        fields = [rng.choice(FIELD_VALUES) for _ in range(rng.randint(0, 12))]
        return ":".join([name, *fields])

    def layer_object(self) -> dict:
        rng = self.rng
        out = {"type": rng.choice(self.layer_names) if rng.random() < 0.9 else self.value()}
        for _ in range(rng.randint(0, 4)):
            out[rng.choice(self.param_names) if rng.random() < 0.8 else self.junk()] = self.value()
        return out

    def garbage_layer(self, config: dict) -> str:
        entries = self._layers(config)
        entry = self.rng.choice([self.layer_string, self.layer_string, self.layer_object,
                                 self.junk, self.value])()
        position = self.rng.randint(0, len(entries))
        if entries and self.rng.random() < 0.5:
            entries[min(position, len(entries) - 1)] = entry
        else:
            entries.insert(position, entry)
        return "garbage layer"

    def marker(self, config: dict) -> str:
        entries = self._layers(config)
        marker = self.rng.choice(["Outer skip source", "Outer skip target", "Inner skip source",
                                  "Inner skip target", "Hook connection source", "Outer skip target:add",
                                  "Inner skip target:concatenate", "Outer skip source:x"])
        entries.insert(self.rng.randint(0, len(entries)), marker)
        return "marker"

    def shuffle_layers(self, config: dict) -> str:
        entries = self._layers(config)
        if len(entries) < 2:
            entries.append(self.layer_string())
            return "add layer"
        i, j = self.rng.sample(range(len(entries)), 2)
        action = self.rng.choice(["swap", "delete", "duplicate"])
        if action == "swap":
            entries[i], entries[j] = entries[j], entries[i]
        elif action == "delete":
            del entries[i]
        else:
            entries.insert(j, copy.deepcopy(entries[i]))
        return f"{action} layers"

    def layer_param(self, config: dict) -> str:
        entries = self._layers(config)
        objects = [e for e in entries if isinstance(e, dict)]
        strings = [i for i, e in enumerate(entries) if isinstance(e, str) and ":" in e]
        if objects and (not strings or self.rng.random() < 0.5):
            entry = self.rng.choice(objects)
            keys = [k for k in entry if k != "type"] or [self.rng.choice(self.param_names)]
            entry[self.rng.choice(keys)] = self.value()
            return "layer param (object)"
        if strings:
            index = self.rng.choice(strings)
            fields = entries[index].split(":")
            fields[self.rng.randint(1, len(fields) - 1)] = self.rng.choice(FIELD_VALUES)
            entries[index] = ":".join(fields)
            return "layer param (string)"
        return self.garbage_layer(config)

    def deep(self, config: dict) -> str:
        name, section = self._section(config)
        key = self._field(name)
        section[key] = f"{DEEP}{self.rng.choice([3, 33, 500, 990, 3000, 100000])}"
        return f"deep {name}.{key}"

    def tweak_number(self, config: dict) -> str:
        """A plausible-looking number anywhere (a layer field, a key): the config often still parses,
        so the graph walk and the cross-key checks see odd sizes."""
        rng = self.rng
        spots = []  # (container, key) of every number, and of every layer string with a digit

        def walk(value, parent, key):
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, value, k)
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    walk(v, value, i)
            elif isinstance(value, (int, float)) and not isinstance(value, bool) or (
                    isinstance(value, str) and not value.startswith("\u0000") and any(c.isdigit() for c in value)):
                spots.append((parent, key))

        walk(config, None, None)
        if not spots:
            return self.set_number(config)
        parent, key = rng.choice(spots)
        new = rng.choice([0, 1, 2, 3, 5, 7, 64, 1000, 2 ** 31, -1, 0.0, 1e-9, 1e300, 0.999999])
        old = parent[key]
        if isinstance(old, str):
            digits = [i for i, c in enumerate(old) if c.isdigit()]
            i = rng.choice(digits)
            j = i
            while j < len(old) and (old[j].isdigit() or old[j] == "."):
                j += 1
            parent[key] = old[:i] + str(new) + old[j:]
        else:
            parent[key] = new
        return "tweak number"

    def input_shape(self, config: dict) -> str:
        rng = self.rng
        shape = [rng.choice([1, 2, 3, 5, 8, 16, 31, 64, 96, 224]) for _ in range(rng.choice([1, 2, 3, 3, 3, 4, 5]))]
        if rng.random() < 0.5:
            self._dict(config, "config_file")["input_shape"] = shape
        entries = self._layers(config)
        entry = f"Input:({', '.join(map(str, shape))}{',' if len(shape) == 1 else ''})"
        if entries:
            entries[0] = entry
        else:
            entries.append(entry)
        return "input shape"

    OPERATIONS = [tweak_number, tweak_number, tweak_number, input_shape, set_key, set_key, set_number, set_number,
                  delete_key, unknown_key, replace_section, choices, choices, garbage_layer, garbage_layer, marker,
                  shuffle_layers, layer_param, layer_param, deep]


def to_text(config: dict) -> str:
    """JSON text of a mutated config: NaN/Infinity literals as json writes them, and the placeholders
    as a literal 1e309, a 5,000-digit integer and deeply nested arrays."""
    text = json.dumps(config)
    text = text.replace(json.dumps(HUGE), "1e309").replace(json.dumps(NEG_HUGE), "-1e309")
    text = text.replace(json.dumps(BIG_INT), "9" * 5000)
    marker = json.dumps(DEEP)[:-1]  # the quoted, escaped prefix
    while marker in text:
        start = text.index(marker)
        end = text.index('"', start + 1)
        depth = int(text[start + len(marker):end])
        text = text[:start] + "[" * depth + "1" + "]" * depth + text[end + 1:]
    return text


def check_one(path: Path, registry) -> tuple[str, str]:
    """("ok" | "error" | "traceback" | "mismatch" | "non-finite", detail) of one config file."""
    from click.testing import CliRunner

    from dlae_core.cli.main import cli
    from dlae_core.config.convert import config_to_dict
    from dlae_core.config.parser import parse_config, read_json
    from dlae_core.errors import DlaeError
    from dlae_core.planning.plan import plan_model

    outcome = "ok"
    try:
        config = parse_config(read_json(path), registry, source=str(path))
        if _non_finite(config):
            return "non-finite", "a NaN or infinite number was accepted"
        for legacy in (False, True):  # dlae convert, both forms, reads back to the same config
            again = parse_config(json.loads(json.dumps(config_to_dict(config, registry, legacy=legacy))), registry)
            if again != config:
                return "mismatch", f"convert {'--legacy' if legacy else ''} does not read back"
        plan_model(config, registry)
    except DlaeError:
        outcome = "error"
    except Exception as exc:  # noqa: BLE001 - what the fuzzer looks for
        return "traceback", _where(exc)
    result = CliRunner().invoke(cli, ["validate", "--skip-data", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return "traceback", "cli: " + _where(result.exception)
    if result.exit_code not in (0, 2) or (result.exit_code == 2) != (outcome == "error"):
        return "traceback", f"cli: exit code {result.exit_code} after {outcome}: {result.output.strip()[:200]}"
    if result.exit_code == 2 and "Traceback" in result.output:
        return "traceback", "cli: a traceback in the output"
    return outcome, ""


def _non_finite(value) -> bool:
    """Whether a parsed config holds a NaN or infinite number anywhere (keys and layer parameters)."""
    import math

    import attrs

    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if attrs.has(type(item)):
            stack.extend(getattr(item, f.name) for f in attrs.fields(type(item)))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def _where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "dlae" in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    place = f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
    return f"{type(exc).__name__} at {place}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def fuzz(count: int, seed: int, folder: Path, registry=None, minimal: dict | None = None,
         keep_failures: bool = True) -> dict:
    """Run ``count`` fuzzed configs; returns {"outcomes": Counter, "failures": [(index, base, mutations,
    detail)]} (failures: tracebacks, convert mismatches and accepted NaN/Inf numbers)."""
    from dlae_core.plugin.registry import get_registry

    registry = registry or get_registry()
    rng = random.Random(seed)
    mutator = Mutator(rng, registry)
    bases = base_configs(registry, minimal)
    outcomes, failures = collections.Counter(), []
    for index in range(count):
        name, base = bases[index % len(bases)]
        config = copy.deepcopy(base)
        done = mutator.mutate(config)
        path = folder / f"fuzz_{index}.json"
        path.write_text(to_text(config), encoding="utf-8")
        outcome, detail = check_one(path, registry)
        outcomes[outcome] += 1
        if outcome in ("traceback", "mismatch", "non-finite"):
            failures.append((index, name, done, detail))
            if keep_failures:
                path.rename(folder / f"failure_{index}.json")
                continue
        path.unlink()
    return {"outcomes": outcomes, "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the failing configs here")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        report = fuzz(args.count, args.seed, folder, minimal=load_conftest_minimal(),
                      keep_failures=args.workdir is not None)
        elapsed = time.perf_counter() - start
    outcomes, failures = report["outcomes"], report["failures"]
    classes = collections.Counter(detail.split(": ")[0] for *_, detail in failures)
    print(f"{args.count} configs, {outcomes['traceback']} tracebacks ({outcomes['ok']} valid, "
          f"{outcomes['error']} rejected with a located error, {outcomes['mismatch']} convert mismatches, "
          f"{outcomes['non-finite']} with an accepted NaN/Inf; seed {args.seed}, {elapsed:.0f} s)")
    for cls, n in classes.most_common():
        example = next(f for f in failures if f[3].split(": ")[0] == cls)
        print(f"  {n} x {cls}\n      e.g. #{example[0]} ({example[1]}: {', '.join(example[2])}): {example[3]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
