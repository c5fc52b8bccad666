"""Catalog, weights cache/downloads (offline, through hf_hub_download), sha256, safe unzip, safe checkpoint loading."""

from __future__ import annotations

import json
import stat
import zipfile

import numpy as np
import pytest
import torch
from segzoo_helpers import local_entry, write_catalog

from cerebro.device import resolve_device
from cerebro.errors import CerebroError
from cerebro.fsutil import sha256_file
from cerebro.segment.catalog import family_names, get_model_entry, load_catalog
from cerebro.segment.device import run_with_fallback
from cerebro.segment.weights.checkpoints import load_checkpoint, load_state_dict
from cerebro.segment.weights.download import expected_path, fetch_model, safe_extract_zip


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_builtin_catalog_is_complete_and_honest():
    catalog = load_catalog()
    families = {e.family for e in catalog.values() if not e.routes}
    assert families == set(family_names())
    for entry in catalog.values():
        if entry.routes:  # the shipped router: a model per modality, each shipped and hashed
            assert entry.family == "" and not entry.needs_weights
            assert all(catalog[target].local is not None for target in entry.routes.values())
            continue
        if entry.family == "vesselness":
            assert not entry.needs_weights and entry.pinned
            continue
        if entry.local is not None:  # shipped inside the package and hashed (Testing/test_default_model.py)
            assert entry.pinned and entry.sha256 is not None and entry.repo is None
            continue
        # nothing could be hashed from here: no invented revisions or hashes
        assert not entry.pinned and entry.sha256 is None and entry.revision is None
        assert entry.needs_weights and entry.license and entry.modality
    assert get_model_entry("spockmip-unet3d-mip").options["key_prefix"] == "model."
    assert get_model_entry("pvs-unetpp-effb7").repo is None
    with pytest.raises(CerebroError, match="unknown model 'nope'.*vesselness"):
        get_model_entry("nope")


def test_user_catalog_adds_entries_and_rejects_bad_ones(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.pth").write_bytes(b"x")
    entry = local_entry(tmp_path, "m", "unetpp", "w.pth", {})
    path = tmp_path / "cat.json"
    path.write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv("CEREBRO_CATALOG", str(path))
    assert load_catalog()["m"].sha256 == entry["sha256"]
    path.write_text(json.dumps({"models": [dict(entry, family="magic")]}))
    with pytest.raises(CerebroError, match="unknown family 'magic'"):
        load_catalog()
    path.write_text(json.dumps({"models": [dict(entry, sha256=None)]}))
    with pytest.raises(CerebroError, match="pinned but lacks"):
        load_catalog()


def _cached_file(tmp_path, model_id="tiny", name="weights.pth", payload=b"weights-bytes"):
    cache = tmp_path / "cache"
    (cache / model_id).mkdir(parents=True)
    (cache / model_id / name).write_bytes(payload)
    return cache


def test_offline_fetch_finds_the_cached_file_through_hf_hub_download(tmp_path, monkeypatch):
    cache = _cached_file(tmp_path)
    catalog = write_catalog(tmp_path / "c.json", [local_entry(cache, "tiny", "unetpp", "weights.pth", {})])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    calls = []
    import huggingface_hub

    real = huggingface_hub.hf_hub_download
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: calls.append(k) or real(*a, **k))
    fractions = []
    from cerebro.progress import Progress

    path = fetch_model(catalog["tiny"], cache_dir=cache, progress=Progress(lambda f, m: fractions.append(f)))
    assert path == cache / "tiny" / "weights.pth" == expected_path(catalog["tiny"], cache)
    assert calls and calls[0]["local_files_only"] and calls[0]["revision"] == catalog["tiny"].revision
    assert fractions[-1] == 1.0


def test_cache_dir_from_environment_and_missing_file_message(tmp_path, monkeypatch):
    cache = _cached_file(tmp_path)
    catalog = write_catalog(tmp_path / "c.json", [local_entry(cache, "tiny", "unetpp", "weights.pth", {})])
    monkeypatch.setenv("CEREBRO_CACHE", str(cache))
    assert fetch_model(catalog["tiny"], offline=True) == cache / "tiny" / "weights.pth"
    (cache / "tiny" / "weights.pth").unlink()
    with pytest.raises(CerebroError, match=r"offline mode is on.*put it at .*tiny/weights\.pth"):
        fetch_model(catalog["tiny"], offline=True)


def test_bad_hash_is_refused(tmp_path):
    cache = _cached_file(tmp_path)
    entry = local_entry(cache, "tiny", "unetpp", "weights.pth", {})
    (cache / "tiny" / "weights.pth").write_bytes(b"tampered")
    catalog = write_catalog(tmp_path / "c.json", [entry])
    with pytest.raises(CerebroError, match="sha256 .* but the catalog expects"):
        fetch_model(catalog["tiny"], cache_dir=cache, offline=True)


def test_unpinned_entries_need_consent_and_report_their_hash(tmp_path):
    cache = _cached_file(tmp_path)
    entry = dict(local_entry(cache, "tiny", "unetpp", "weights.pth", {}), pinned=False, sha256=None, revision=None)
    catalog = write_catalog(tmp_path / "c.json", [entry])
    digest = sha256_file(cache / "tiny" / "weights.pth")
    with pytest.raises(CerebroError, match=f"not pinned.*{digest}.*--allow-unpinned"):
        fetch_model(catalog["tiny"], cache_dir=cache, offline=True)
    with pytest.warns(UserWarning, match=digest):
        fetch_model(catalog["tiny"], cache_dir=cache, offline=True, allow_unpinned=True)


def test_entry_without_public_weights_says_where_to_put_the_file(tmp_path):
    with pytest.raises(CerebroError, match=r"no public weights; put your best_model\.pth at .*pvs-unetpp-effb7"):
        fetch_model(get_model_entry("pvs-unetpp-effb7"), cache_dir=tmp_path, allow_unpinned=True)


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt", "C:/evil.txt", "a\\..\\..\\e"])
def test_zip_slip_is_refused(tmp_path, name):
    archive = _zip(tmp_path / "bad.zip", {"ok/file.txt": "fine", name: "evil"})
    with pytest.raises(CerebroError, match="outside the target folder"):
        safe_extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_zip_symlinks_are_refused_and_good_zips_extract(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("model/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(CerebroError, match="symbolic link"):
        safe_extract_zip(archive, tmp_path / "out")
    good = _zip(tmp_path / "good.zip", {"model/plans.json": "{}", "model/fold_0/x.pth": "w"})
    out = safe_extract_zip(good, tmp_path / "out")
    assert (out / "model" / "fold_0" / "x.pth").read_text() == "w"


def test_archives_are_verified_then_extracted_once(tmp_path):
    cache = tmp_path / "cache"
    (cache / "z").mkdir(parents=True)
    _zip(cache / "z" / "m.zip", {"T__P__3d_fullres/plans.json": "{}"})
    catalog = write_catalog(tmp_path / "c.json", [local_entry(cache, "z", "nnunet", "m.zip", {}, archive="zip")])
    folder = fetch_model(catalog["z"], cache_dir=cache, offline=True)
    assert (folder / "T__P__3d_fullres" / "plans.json").is_file()
    (folder / "T__P__3d_fullres" / "marker").write_text("kept")
    assert fetch_model(catalog["z"], cache_dir=cache, offline=True) == folder
    assert (folder / "T__P__3d_fullres" / "marker").is_file()


def test_checkpoints_load_weights_only_and_refuse_pickled_modules(tmp_path):
    net = torch.nn.Conv3d(1, 2, 3)
    torch.save({"model": net.state_dict(), "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}},
               tmp_path / "ckpt.pt")
    state = load_state_dict(tmp_path / "ckpt.pt", key="model")
    assert set(state) == {"weight", "bias"}
    with pytest.raises(CerebroError, match="no 'net' entry"):
        load_state_dict(tmp_path / "ckpt.pt", key="net")
    torch.save(net, tmp_path / "module.pt")
    with pytest.raises(CerebroError, match="pickled Python objects"):
        load_checkpoint(tmp_path / "module.pt")
    assert set(load_state_dict(tmp_path / "module.pt", allow_pickle=True)) == {"weight", "bias"}
    from safetensors.torch import save_file

    save_file({"model." + k: v for k, v in net.state_dict().items()}, tmp_path / "m.safetensors")
    assert set(load_state_dict(tmp_path / "m.safetensors", prefix="model.")) == {"weight", "bias"}
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(CerebroError, match="not a valid safetensors"):
        load_state_dict(tmp_path / "junk.safetensors")


def test_device_resolution_and_out_of_memory_fallback():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(CerebroError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    # training and INR fitting: one resolver, without Apple's MPS backend
    assert resolve_device("auto", mps=False).type in ("cpu", "cuda")
    with pytest.raises(CerebroError, match="unknown device 'mps'; use one of auto, cpu, cuda"):
        resolve_device("mps", mps=False)
    if not torch.cuda.is_available():
        with pytest.raises(CerebroError, match="no CUDA GPU"):
            resolve_device("cuda")
    tried = []

    def run(device, batch):
        tried.append((device.type, batch))
        if device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return np.float32(1.0)

    messages = []
    from cerebro.progress import Progress

    with pytest.warns(UserWarning) as caught:
        assert run_with_fallback(run, torch.device("cuda"), 4, Progress(lambda f, m: messages.append(m))) == 1.0
    assert "falling back to the CPU" in str(caught[-1].message)
    assert tried == [("cuda", 4), ("cuda", 2), ("cuda", 1), ("cpu", 1)]
    assert any("batch 2" in m for m in messages)
    with pytest.raises(ValueError):
        run_with_fallback(lambda d, b: (_ for _ in ()).throw(ValueError("other")), torch.device("cuda"), 2)
