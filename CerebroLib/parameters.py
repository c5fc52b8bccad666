"""The panels' parameter nodes (saved with the scene), as typed ``parameterNodeWrapper`` classes.

Codec settings are typed values in a ``parameterPack`` (one field per setting name of any codec, with the type
of :data:`CerebroLib.compress_logic.SETTING_TYPES`), not a JSON string: the scene file holds ``tolerance = 5.0``
and ``axis = k``. Ranges differ per codec, so the codec checks them before a run. Needs the Slicer application
(``slicer.parameterNodeWrapper``); only module files and panels import it. No ``from __future__ import
annotations`` here: the wrapper reads the annotations as types when the classes are made.
"""

from typing import Annotated, Any

from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper, parameterPack

from cerebro.benchmark.limits import AGAINST
from cerebro.benchmark.sweep import PAPER_SETTINGS
from cerebro.device import DEVICES
from cerebro.modality import MODALITY_CHOICES
from cerebro.segment.catalog import DEFAULT_MODEL_ID
from CerebroLib.benchmark_logic import LAYOUTS, METRIC_SETS, SOURCES
from CerebroLib.compress_logic import SETTING_TYPES


def _codecSettingsPack() -> type:
    """The ``CodecSettings`` pack: a typed field per name of SETTING_TYPES (placeholders until a mode sets them)."""
    namespace: dict[str, Any] = {"__annotations__": dict(SETTING_TYPES), "__doc__": "Every codec setting, typed."}
    namespace.update({name: kind() for name, kind in SETTING_TYPES.items()})
    return parameterPack(type("CodecSettings", (), namespace))


CodecSettings = _codecSettingsPack()


def settingsValues(pack: Any) -> dict[str, Any]:
    """The pack's values by setting name (the logic picks the current mode's ones)."""
    return {name: getattr(pack, name) for name in SETTING_TYPES}


def setSettingsValues(pack: Any, values: dict[str, Any]) -> None:
    """Store ``values`` (setting name -> value) in the pack, converted to each setting's type."""
    for name, value in values.items():
        setattr(pack, name, SETTING_TYPES[name](value))


@parameterNodeWrapper
class CompressParameters:
    """CerebroCompress panel state: the input, codec, mode, the typed codec settings, the difference option."""

    inputVolume: vtkMRMLScalarVolumeNode
    codec: str = ""
    mode: str = ""
    settings: CodecSettings
    makeDifference: bool = False


@parameterNodeWrapper
class SegmentParameters:
    """CerebroSegment panel state: the input, model, the volume's modality (picks the model of a routing entry),
    device and run options."""

    inputVolume: vtkMRMLScalarVolumeNode
    model: str = ""
    modality: Annotated[str, Choice(list(MODALITY_CHOICES))] = "auto"
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    tta: bool = True
    probabilities: bool = False
    allowUnpinned: bool = False


@parameterNodeWrapper
class BenchmarkParameters:
    """CerebroBenchmark panel state: the cases (scene volume + reference + its modality, or a dataset), the
    settings (one per line), the models (comma-separated ids), run options, the results folder and the limit's bound."""

    source: Annotated[str, Choice(list(SOURCES))] = "scene"
    inputVolume: vtkMRMLScalarVolumeNode
    referenceSegmentation: vtkMRMLSegmentationNode
    referenceSegment: str = ""
    sceneModality: Annotated[str, Choice(list(MODALITY_CHOICES))] = "auto"
    datasetPath: str = ""
    layout: Annotated[str, Choice(list(LAYOUTS))] = "nnunet"
    maxCases: Annotated[int, WithinRange(0, 100000)] = 0
    settingsText: str = "\n".join(PAPER_SETTINGS)
    models: str = DEFAULT_MODEL_ID
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    metrics: Annotated[str, Choice(list(METRIC_SETS))] = "all"
    tta: bool = False
    storePath: str = ""
    maxDiceLoss: Annotated[float, WithinRange(0.0, 0.5)] = 0.001
    against: Annotated[str, Choice(list(AGAINST))] = "truth"
    searchCodec: str = "sperr"
