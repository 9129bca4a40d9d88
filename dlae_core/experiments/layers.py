"""Layer-list helpers of the experiment API: read entries as parsed layers, replace, insert, remove,
and swap a pretrained encoder, each change checked as the config parser checks it."""

from __future__ import annotations

from dlae_core.errors import ConfigError, problem
from dlae_core.experiments.paths import ConfigPath, get_value, set_value

__all__ = ["LayerList"]


class LayerList:
    """One layer list of an :class:`~dlae_core.experiments.Experiment` (a live view: edits change the
    experiment). Items are parsed :class:`~dlae_core.api.LayerSpec` objects (``spec.type``,
    ``spec.params``); new entries are layer strings (``"Dense:10"``) or objects
    (``{"type": "Dense", "units": 10}``), kept in the form the list is written in."""

    def __init__(self, experiment, name: str):
        self._experiment, self.name = experiment, name

    @property
    def _entries(self) -> list:
        return self._experiment.raw.setdefault("layers", {}).setdefault(self.name, [])

    def _path(self, index: int, param: str | None = None) -> ConfigPath:
        text = f"layers.{self.name}[{index}]" + (f".{param}" if param else "")
        return ConfigPath(text, "layers", self.name, index, param)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int):
        return get_value(self._experiment.raw, self._path(index), self._experiment.registry)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __setitem__(self, index: int, entry) -> None:
        set_value(self._experiment.raw, self._path(index), entry, self._experiment.registry)

    def types(self) -> list[str]:
        """The layer type of every entry, in order."""
        return [spec.type for spec in self]

    def find(self, layer_type: str) -> list[int]:
        """Indices of the entries of ``layer_type`` (e.g. ``"Outer skip target"``)."""
        return [i for i, spec in enumerate(self) if spec.type == layer_type]

    def set_param(self, index: int, param: str, value) -> None:
        """Change one parameter of entry ``index`` (``set_param(5, "filters", 32)``)."""
        set_value(self._experiment.raw, self._path(index, param), value, self._experiment.registry)

    def insert(self, index: int, entry) -> None:
        """Insert ``entry`` before position ``index`` (``len(list)`` appends)."""
        entries = self._entries
        if not -len(entries) <= index <= len(entries):
            raise ConfigError([problem(f"layers.{self.name}", f"cannot insert at {index}",
                                       expected=f"an index in [0, {len(entries)}]", received=index)])
        position = index if index >= 0 else len(entries) + index
        entries.insert(position, "Flatten")  # placeholder, replaced (and checked) below
        try:
            self[position] = entry
        except ConfigError:
            del entries[position]
            raise

    def append(self, entry) -> None:
        self.insert(len(self), entry)

    def remove(self, index: int) -> None:
        """Remove entry ``index``."""
        self[index]  # a located error for an index out of range
        del self._entries[index]

    def remove_all(self, layer_type: str) -> int:
        """Remove every entry of ``layer_type``; returns how many were removed."""
        found = self.find(layer_type)
        for index in reversed(found):
            del self._entries[index]
        return len(found)

    def encoder_index(self) -> int:
        """Index of the (first) pretrained encoder; ConfigError when the list has none."""
        registry = self._experiment.registry
        for index, spec in enumerate(self):
            if registry.layers[spec.type].role == "pretrained":
                return index
        raise ConfigError([problem(f"layers.{self.name}", "the list holds no pretrained encoder to replace",
                                   expected="an entry such as 'VGG16:False:none:(64, 64, 1):True:False'")])

    def replace_encoder(self, network: str, **params) -> int:
        """Swap the pretrained encoder for ``network`` (e.g. ``"ResNet50"``), keeping its parameters
        (input shape, skip and hook switches, weights) unless given in ``params``. The decoder after it
        is kept as it is: pick encoders whose taps fit it (``dlae validate`` says where they do not).
        Returns the encoder's index."""
        from dlae_core.config.values import to_json
        from dlae_core.layers.grammar import parse_layer

        index = self.encoder_index()
        registry = self._experiment.registry
        kept = self[index].params
        if network in registry.layers:  # only the parameters the new network has
            kept = {p.name: kept[p.name] for p in registry.layers[network].params if p.name in kept}
        entry = {"type": network, **{k: to_json(v) for k, v in {**kept, **params}.items()}}
        spec, problems = parse_layer(entry, f"layers.{self.name}[{index}]", registry)
        if problems:
            raise ConfigError(problems)
        self[index] = spec  # written in the form of the entry it replaces
        return index

    def __repr__(self) -> str:
        return f"LayerList({self.name!r}, {self.types()!r})"
