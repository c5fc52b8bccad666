"""Segment a Volume with a loaded nnU-Net model, in nnU-Net v2's order: transpose -> crop to nonzero (and, for a
CT model, to the head: the voxels above -500 HU and 4 voxels around them; stock nnU-Net also runs over the air) ->
normalize -> resample to the plans' spacing -> Gaussian sliding window (mirroring, fold averaging) ->
resample logits back -> argmax -> uncrop -> transpose back. The image is read in SimpleITK's array order
(k, j, i) with spacing (sk, sj, si), as nnU-Net's SimpleITK reader does."""

from __future__ import annotations

import functools
from typing import Any, Protocol

import numpy as np
import torch

from cerebro.errors import CerebroError
from cerebro.modality import AIR_HU
from cerebro.progress import Progress
from cerebro.segment.device import autocast_for, effective_precision, run_with_fallback
from cerebro.segment.families.nnunet.plans import CENTRELINE_CHANNEL, NnUNetPlans
from cerebro.segment.families.nnunet.preprocess import (
    mask_bbox,
    new_shape_for_spacing,
    nonzero_bbox,
    normalize,
    resample,
)
from cerebro.segment.families.nnunet.sliding_window import sliding_window_logits
from cerebro.segment.result import SegmentationResult
from cerebro.volume import Volume

_REORIENTING_READERS = ("NibabelIOWithReorient",)
BODY_MARGIN = 4  # voxels of air kept around the head of a CT when cropping to it


class LoadedNnUNet(Protocol):
    """What prediction needs of a loaded results folder (:class:`results_folder.NnUNetModel` has it)."""

    plans: NnUNetPlans
    network: torch.nn.Module
    fold_weights: list[dict[str, torch.Tensor]]
    mirror_axes: tuple[int, ...] | None
    device: torch.device
    info: dict[str, Any]

    @property
    def labels(self) -> dict[int, str]: ...


def predict_volume(model: LoadedNnUNet, volume: Volume, tta: bool = True, progress: Progress | None = None,
                   return_probabilities: bool = False, precision: str = "auto") -> SegmentationResult:
    """Label mask (uint8, on ``volume``'s grid) and optionally the foreground probability (1 - P(background)).

    ``precision``: ``"auto"`` runs the network in float16 on CUDA (as nnU-Net) and in bfloat16 on a CPU that has it
    in hardware (:func:`cerebro.segment.device.effective_precision`; masks checked against float32 in
    bench/RESULTS.md); ``"float32"`` everywhere gives nnU-Net's CPU numbers exactly."""
    plans = model.plans
    channels = [str(v) for v in dict(plans.dataset.get("channel_names", {})).values()]
    with_prior = channels[1:] == [CENTRELINE_CHANNEL]
    if plans.num_input_channels != 1 and not with_prior:
        raise CerebroError(f"this model takes {plans.num_input_channels} image channels; CerebroBench gives one "
                           f"(or the angiogram plus the '{CENTRELINE_CHANNEL}' channel it computes)")
    reader = str(plans.plans.get("image_reader_writer", "SimpleITKIO"))
    if reader in _REORIENTING_READERS:
        raise CerebroError(f"the model was trained with {reader} (reorients to RAS), which is not supported; "
                           "use a model trained with SimpleITKIO")
    volume.require_finite()
    kind = effective_precision(model.device, precision, cpu_bfloat16=True)
    progress = progress or Progress()
    forward, backward = plans.transpose_forward, plans.transpose_backward

    data = volume.array[None]  # in the voxels' own type until cropped: one float32 copy, of the box only
    if with_prior:  # the centreline prior made exactly as in training (cerebro train --centreline-channel)
        from cerebro.vesselness import centreline_prior

        progress.update(0.0, "centreline prior (vesselness skeleton)")
        data = np.concatenate([data.astype(np.float32), centreline_prior(volume).array[None]])
    data = data.transpose([0, *[a + 1 for a in forward]])
    spacing_kji = volume.spacing[::-1]
    spacing = [spacing_kji[a] for a in forward]
    full_shape = data.shape[1:]

    box, nonzero = nonzero_bbox(data)
    if plans.normalization_schemes[0] == "CTNormalization":  # CT: the air around the head is not segmented
        body = mask_bbox(data[0][box] > AIR_HU, BODY_MARGIN)
        if body is not None:
            box = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(box, body))
            nonzero = nonzero[body]
    data = data[(slice(None), *box)].astype(np.float32)
    cropped_shape = data.shape[1:]
    for c in range(data.shape[0]):
        scheme = plans.normalization_schemes[c]
        props = plans.intensity_properties(c) if scheme == "CTNormalization" else None
        data[c] = normalize(data[c], scheme, props, plans.use_mask_for_norm[c], nonzero)
    target_shape = new_shape_for_spacing(cropped_shape, spacing, plans.spacing)
    progress.update(0.02, "resampling to the model's spacing")
    data = resample(data, target_shape, spacing, plans.spacing, **plans.data_resampling)
    tensor = torch.from_numpy(np.ascontiguousarray(data))

    mirror = model.mirror_axes if tta else None
    windows = progress.sub(0.05, 0.9)

    def fold_average(image: torch.Tensor, device: torch.device, _batch: int) -> torch.Tensor:
        # nnU-Net predicts under float16 autocast on CUDA (U-Mamba's Mamba layers switch back to float32)
        model.network.to(device)
        logits = None
        for n, weights in enumerate(model.fold_weights):
            if len(model.fold_weights) > 1:
                model.network.load_state_dict(weights, strict=True)
            part = windows.sub(n / len(model.fold_weights), (n + 1) / len(model.fold_weights))
            with autocast_for(device, True, precision, cpu_bfloat16=True):
                fold_logits = sliding_window_logits(model.network, image, plans.patch_size,
                                                    plans.num_segmentation_heads, mirror, progress=part)
            logits = fold_logits if logits is None else logits + fold_logits
        return logits if len(model.fold_weights) == 1 else logits / len(model.fold_weights)

    # one tile at a time already, so a GPU out-of-memory error falls back to the CPU (announced)
    logits = run_with_fallback(functools.partial(fold_average, tensor), model.device, 1, progress)
    del tensor, data

    progress.update(0.92, "resampling back to the input grid")
    labels_in_box, foreground_in_box = _decide(logits, cropped_shape, plans.spacing, spacing,
                                               plans.probability_resampling, return_probabilities)
    del logits
    mask = np.zeros(full_shape, dtype=np.uint8)
    mask[box] = labels_in_box
    result_mask = volume.with_array(np.ascontiguousarray(mask.transpose(backward)))
    result_mask.metadata["segmentation_model"] = {**model.info, "precision": kind}
    probabilities = None
    if foreground_in_box is not None:
        foreground = np.zeros(full_shape, dtype=np.float32)
        foreground[box] = foreground_in_box
        probabilities = volume.with_array(np.ascontiguousarray(foreground.transpose(backward)))
    progress.update(1.0, "segmentation done")
    return SegmentationResult(mask=result_mask, probabilities=probabilities, labels=dict(model.labels))


def _decide(logits: torch.Tensor, shape: list[int], model_spacing, spacing, resampling: dict[str, Any],
            with_probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (uint8) and, when asked, the foreground probability (1 - P(background), float32) on the cropped input
    grid ``shape`` from ``logits`` (classes, x, y, z) on the model's grid, resampled as nnU-Net does.

    With two classes only the difference of the logits decides (argmax = difference > 0, the foreground probability
    its sigmoid), and nnU-Net's linear resampling (order <= 1) commutes with taking it: one channel is resampled
    instead of two, which halves the memory of this step."""
    if logits.shape[0] == 2 and int(resampling.get("order", 1)) <= 1 and int(resampling.get("order_z", 0)) <= 1:
        difference = (logits[1].float() - logits[0].float()).numpy()[None]
        scores = resample(difference, shape, model_spacing, spacing, **resampling)[0]
        del difference
        foreground = torch.sigmoid(torch.from_numpy(scores)).numpy() if with_probabilities else None
        return (scores > 0).astype(np.uint8), foreground
    resampled = resample(logits.numpy(), shape, model_spacing, spacing, **resampling)
    labels = np.argmax(resampled, axis=0).astype(np.uint8)
    if not with_probabilities:
        return labels, None
    return labels, (1.0 - torch.softmax(torch.from_numpy(resampled), dim=0)[0]).numpy()
