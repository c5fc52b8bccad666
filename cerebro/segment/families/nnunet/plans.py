"""Read an nnU-Net v2 ``plans.json`` + ``dataset.json``: the configuration's patch size, spacing, normalization,
resampling, labels and network description, for plans written by nnU-Net 2.1 (old ``UNet_class_name`` keys,
as U-Mamba's fork writes them) and by nnU-Net >= 2.4 (``architecture`` block)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cerebro.errors import CerebroError

# nnU-Net's defaults when the plans do not name resampling kwargs (order 3 for images, 1 for probabilities).
_DEFAULT_DATA_RESAMPLING = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
_DEFAULT_PROBABILITY_RESAMPLING = {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None}
SUPPORTED_NORMALIZATIONS = ("CTNormalization", "ZScoreNormalization", "NoNormalization", "RescaleTo01Normalization")
CENTRELINE_CHANNEL = "centreline_prior"
"""dataset.json name of the second input channel of models trained with ``cerebro train --centreline-channel``
(the skeleton of the vesselness mask, which inference computes from the image)."""


@dataclass(frozen=True)
class Architecture:
    """Encoder/decoder description shared by plain nnU-Net and U-Mamba nets (3D, lists per stage)."""

    network_class_name: str
    features_per_stage: list[int]
    kernel_sizes: list[list[int]]
    strides: list[list[int]]
    n_conv_per_stage: list[int]
    n_conv_per_stage_decoder: list[int]
    kwargs: dict[str, Any]  # the raw ``arch_kwargs`` (new plans) or the equivalent built from old plans


@dataclass(frozen=True)
class NnUNetPlans:
    """One configuration of an nnU-Net plan plus the labels of its dataset (axes in nnU-Net's order)."""

    plans: dict[str, Any]
    dataset: dict[str, Any]
    configuration_name: str
    configuration: dict[str, Any]

    @property
    def patch_size(self) -> list[int]:
        """Sliding-window tile size in voxels, in nnU-Net's (transposed) axis order."""
        return [int(v) for v in self.configuration["patch_size"]]

    @property
    def spacing(self) -> list[float]:
        """Target spacing in mm, in nnU-Net's (transposed) axis order (array order k, j, i before transposing)."""
        return [float(v) for v in self.configuration["spacing"]]

    @property
    def transpose_forward(self) -> list[int]:
        """Axis permutation applied to (k, j, i)-ordered arrays before the network."""
        return [int(v) for v in self.plans.get("transpose_forward", [0, 1, 2])]

    @property
    def transpose_backward(self) -> list[int]:
        """Inverse of :attr:`transpose_forward`."""
        return [int(v) for v in self.plans.get("transpose_backward", [0, 1, 2])]

    @property
    def normalization_schemes(self) -> list[str]:
        """One nnU-Net normalization class name per input channel."""
        return list(self.configuration["normalization_schemes"])

    @property
    def use_mask_for_norm(self) -> list[bool]:
        """Per channel: z-score inside the nonzero (cropped) region only."""
        return [bool(v) for v in self.configuration.get("use_mask_for_norm", [False] * self.num_input_channels)]

    def intensity_properties(self, channel: int) -> dict[str, float]:
        """Foreground intensity statistics of a channel (mean, std, percentile_00_5, percentile_99_5, ...)."""
        props = self.plans.get("foreground_intensity_properties_per_channel", {})
        if str(channel) not in props:
            raise CerebroError(f"plans.json lacks foreground_intensity_properties_per_channel['{channel}']; "
                               "use the plans.json that was trained with this model")
        return {k: float(v) for k, v in props[str(channel)].items()}

    @property
    def num_input_channels(self) -> int:
        """Number of image channels the network takes."""
        names = self.dataset.get("channel_names") or self.dataset.get("modality") or {"0": "image"}
        return len(names)

    @property
    def labels(self) -> dict[int, str]:
        """Label value -> name, background included (dataset.json ``labels``)."""
        raw = self.dataset.get("labels")
        if not isinstance(raw, dict) or not raw:
            raise CerebroError("dataset.json has no 'labels' mapping; use the dataset.json of the trained model")
        if any(isinstance(v, (list, tuple)) for v in raw.values()):
            raise CerebroError("this model was trained with region-based labels, which are not supported yet; "
                               "use a model trained on plain integer labels")
        return {int(v): str(k) for k, v in sorted(raw.items(), key=lambda kv: int(kv[1]))}

    @property
    def num_segmentation_heads(self) -> int:
        """Output channels of the network (one per label, background included)."""
        return len(self.labels)

    @property
    def data_resampling(self) -> dict[str, Any]:
        """Keyword arguments of nnU-Net's image resampling (order, order_z, force_separate_z)."""
        return dict(self.configuration.get("resampling_fn_data_kwargs") or _DEFAULT_DATA_RESAMPLING)

    @property
    def probability_resampling(self) -> dict[str, Any]:
        """Keyword arguments of nnU-Net's probability/logit resampling back to the input grid."""
        return dict(self.configuration.get("resampling_fn_probabilities_kwargs") or _DEFAULT_PROBABILITY_RESAMPLING)

    def architecture(self) -> Architecture:
        """The network description, converting old (nnU-Net 2.1) plan keys the way nnU-Net itself does."""
        cfg = self.configuration
        if "architecture" in cfg:
            arch = cfg["architecture"]
            kwargs = dict(arch["arch_kwargs"])
            return Architecture(
                network_class_name=str(arch["network_class_name"]),
                features_per_stage=[int(v) for v in kwargs["features_per_stage"]],
                kernel_sizes=[[int(k) for k in ks] for ks in kwargs["kernel_sizes"]],
                strides=[[int(s) for s in st] for st in kwargs["strides"]],
                n_conv_per_stage=[int(v) for v in kwargs.get("n_conv_per_stage", kwargs.get("n_blocks_per_stage"))],
                n_conv_per_stage_decoder=[int(v) for v in kwargs["n_conv_per_stage_decoder"]],
                kwargs=kwargs,
            )
        try:
            n_stages = len(cfg["conv_kernel_sizes"])
            features = [min(int(cfg["UNet_base_num_features"]) * 2**i, int(cfg["unet_max_num_features"]))
                        for i in range(n_stages)]
            class_name = str(cfg["UNet_class_name"])
            blocks_key = "n_conv_per_stage" if class_name == "PlainConvUNet" else "n_blocks_per_stage"
            kwargs = {
                "n_stages": n_stages, "features_per_stage": features,
                "kernel_sizes": cfg["conv_kernel_sizes"], "strides": cfg["pool_op_kernel_sizes"],
                blocks_key: cfg["n_conv_per_stage_encoder"],
                "n_conv_per_stage_decoder": cfg["n_conv_per_stage_decoder"],
                "conv_bias": True, "norm_op_kwargs": {"eps": 1e-5, "affine": True},
                "nonlin_kwargs": {"inplace": True},
            }
            return Architecture(
                network_class_name=class_name,
                features_per_stage=features,
                kernel_sizes=[[int(k) for k in ks] for ks in cfg["conv_kernel_sizes"]],
                strides=[[int(s) for s in st] for st in cfg["pool_op_kernel_sizes"]],
                n_conv_per_stage=[int(v) for v in cfg["n_conv_per_stage_encoder"]],
                n_conv_per_stage_decoder=[int(v) for v in cfg["n_conv_per_stage_decoder"]],
                kwargs=kwargs,
            )
        except KeyError as exc:
            raise CerebroError(f"plans.json configuration '{self.configuration_name}' lacks {exc}; "
                               "use the plans.json written when the model was trained") from None


def load_plans(plans_file: str | Path, dataset_file: str | Path, configuration: str) -> NnUNetPlans:
    """Read plans.json and dataset.json and resolve ``configuration`` (following ``inherits_from``)."""
    plans = _read_json(Path(plans_file))
    dataset = _read_json(Path(dataset_file))
    configs = plans.get("configurations")
    if not isinstance(configs, dict) or configuration not in configs:
        names = ", ".join(sorted(configs)) if isinstance(configs, dict) else "none"
        raise CerebroError(f"plans.json has no configuration '{configuration}' (it has: {names}); pick one of those")
    resolved = _resolve(configs, configuration, ())
    if len(resolved.get("patch_size", [])) != 3:
        raise CerebroError(f"configuration '{configuration}' is not 3D; use a 3d_fullres/3d_lowres model")
    for scheme in resolved.get("normalization_schemes", []):
        if scheme not in SUPPORTED_NORMALIZATIONS:
            raise CerebroError(f"unsupported nnU-Net normalization '{scheme}'; supported: "
                               + ", ".join(SUPPORTED_NORMALIZATIONS))
    return NnUNetPlans(plans=plans, dataset=dataset, configuration_name=configuration, configuration=resolved)


def _resolve(configs: dict[str, Any], name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    if name in seen:
        raise CerebroError(f"plans.json configurations inherit in a circle ({' -> '.join((*seen, name))}); fix it")
    cfg = dict(configs[name])
    parent = cfg.pop("inherits_from", None)
    if parent is None:
        return cfg
    if parent not in configs:
        raise CerebroError(f"configuration '{name}' inherits from missing '{parent}'; fix plans.json")
    merged = _resolve(configs, parent, (*seen, name))
    merged.update(cfg)
    return merged


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CerebroError(f"{path} not found; a results folder needs plans.json and dataset.json next to fold_X/")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CerebroError(f"cannot read {path}: {exc}; replace it with the file from the trained model") from None
    if not isinstance(data, dict):
        raise CerebroError(f"{path} is not a JSON object; replace it with the file from the trained model")
    return data
