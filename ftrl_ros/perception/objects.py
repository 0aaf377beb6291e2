"""The object catalogue: what the detector's classes are and how the colour filter finds each one.

Loaded from ``config/perception.yaml`` and validated field by field, so a typo fails at start-up
with the field's name instead of silently producing a wrong state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..utils.paths import package_dir
from .color_filter import HSVBand


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    class_id: int
    """Index of the YOLO class (order of the catalogue)."""
    band: HSVBand
    center_height: float
    """Height of the centre above the table, m."""
    top_height: float
    """Height of its top surface above the table, m (the top is centred over the centre)."""
    size: float = 0.1
    """Width (diameter) of the object, m: colour blobs much wider are not it."""
    min_area: int = 40
    """Smallest colour blob counted, pixels at 640x480."""


@dataclass(frozen=True)
class Catalogue:
    objects: tuple[ObjectSpec, ...]
    tasks: Mapping[str, tuple[str, ...]]

    @property
    def class_names(self) -> list[str]:
        return [o.name for o in self.objects]

    def get(self, name: str) -> ObjectSpec:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(f"no object {name!r} in the catalogue; known: {self.class_names}")

    def for_task(self, task: str) -> tuple[ObjectSpec, ...]:
        if task not in self.tasks:
            raise KeyError(f"no task {task!r} in the perception catalogue; known: {sorted(self.tasks)}")
        return tuple(self.get(n) for n in self.tasks[task])


def _pair(raw: Any, field: str, cast=int) -> tuple:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise ValueError(f"{field}: expected [lo, hi], got {raw!r}")
    try:
        return tuple(cast(x) for x in raw)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: expected two numbers, got {raw!r}") from None


def _number(raw: Any, field: str, lo: float, hi: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not lo <= raw <= hi:
        raise ValueError(f"{field}: expected a number in [{lo}, {hi}], got {raw!r}")
    return float(raw)


def parse_catalogue(doc: Mapping[str, Any], source: str = "catalogue") -> Catalogue:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("objects"), Mapping) or not doc["objects"]:
        raise ValueError(f"{source}: 'objects' must be a non-empty mapping")
    known = {"hue", "sat", "val", "center_height", "top_height", "size", "min_area"}
    objects = []
    for i, (name, raw) in enumerate(doc["objects"].items()):
        where = f"{source}: objects.{name}"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: expected a mapping")
        if unknown := set(raw) - known:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
        for f in ("hue", "center_height", "top_height", "size"):
            if f not in raw:
                raise ValueError(f"{where}.{f}: missing")
        try:
            band = HSVBand(
                hue=_pair(raw["hue"], f"{where}.hue"),
                sat=_pair(raw.get("sat", (80, 255)), f"{where}.sat"),
                val=_pair(raw.get("val", (50, 255)), f"{where}.val"),
            )
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        objects.append(
            ObjectSpec(
                name=str(name),
                class_id=i,
                band=band,
                center_height=_number(raw["center_height"], f"{where}.center_height", 0.0, 0.5),
                top_height=_number(raw["top_height"], f"{where}.top_height", 0.0, 0.5),
                size=_number(raw["size"], f"{where}.size", 0.005, 1.0),
                min_area=int(_number(raw.get("min_area", 40), f"{where}.min_area", 1, 1e6)),
            )
        )
    names = {o.name for o in objects}
    tasks = {}
    for task, members in (doc.get("tasks") or {}).items():
        if not isinstance(members, (list, tuple)) or not all(m in names for m in members):
            raise ValueError(f"{source}: tasks.{task}: expected a list of object names from {sorted(names)}, got {members!r}")
        tasks[str(task)] = tuple(members)
    return Catalogue(tuple(objects), tasks)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """``config/perception.yaml`` unless another file is given."""
    path = Path(path) if path else package_dir("config") / "perception.yaml"
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"cannot read perception catalogue {path}: {e}") from None
    return parse_catalogue(doc, str(path))
