"""A few hundred fuzzed configs (fixed seed) through parse + plan + ``dlae validate --skip-data``:
every outcome is a success or a DlaeError, never another exception. The fuzzer itself is
``benchmarks/fuzz_configs.py`` (which runs thousands: ``--count``, ``--seed``)."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

from dlae_core.config.parser import parse_config, read_json
from dlae_core.planning.plan import plan_model

pytestmark = pytest.mark.usefixtures("fresh_default_registry")

FUZZER = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_configs.py"
COUNT, SEED = 600, 18


@pytest.fixture(scope="module")
def fuzz_configs():
    spec = importlib.util.spec_from_file_location("fuzz_configs", FUZZER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_base_config_is_valid_in_both_forms(fuzz_configs, registry, minimal_typed_config):
    bases = fuzz_configs.base_configs(registry, minimal_typed_config())
    assert len(bases) == 2 * (len(list((FUZZER.parents[1] / "configs").glob("*.json"))) + 1)
    for name, raw in bases:
        plan_model(parse_config(raw, registry), registry)


def test_the_placeholders_become_json_a_python_dict_cannot_hold(fuzz_configs, tmp_path):
    text = fuzz_configs.to_text({"a": fuzz_configs.HUGE, "b": f"{fuzz_configs.DEEP}3", "c": float("nan"),
                                 "d": [fuzz_configs.NEG_HUGE]})
    assert text == '{"a": 1e309, "b": [[[1]]], "c": NaN, "d": [-1e309]}'
    path = tmp_path / "c.json"
    path.write_text(text)
    assert read_json(path)["a"] == float("inf")


def test_fuzzed_configs_give_a_result_or_a_located_error_never_a_traceback(fuzz_configs, tmp_path,
                                                                           minimal_typed_config):
    report = fuzz_configs.fuzz(COUNT, SEED, tmp_path, minimal=minimal_typed_config())
    outcomes, failures = report["outcomes"], report["failures"]
    assert sum(outcomes.values()) == COUNT
    shown = "\n".join(f"#{index} ({base}: {', '.join(done)}): {detail}" for index, base, done, detail in failures)
    assert not failures, f"{len(failures)} of {COUNT} fuzzed configs failed:\n{shown}"
    # both outcomes are exercised: the mutations are neither all harmless nor all fatal
    assert outcomes["ok"] >= COUNT // 20 and outcomes["error"] >= COUNT // 2


def test_the_fuzzer_is_reproducible(fuzz_configs, registry, minimal_typed_config):
    def texts(seed):
        mutator = fuzz_configs.Mutator(random.Random(seed), registry)
        bases = fuzz_configs.base_configs(registry, minimal_typed_config())
        out = []
        for index in range(30):
            config = json.loads(json.dumps(bases[index % len(bases)][1]))
            mutator.mutate(config)
            out.append(fuzz_configs.to_text(config))
        return out

    assert texts(5) == texts(5) != texts(6)
