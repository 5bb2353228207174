"""Steganalysis on real photos: classical attacks against known embedding rates, learned detectors trained briefly
on real hider output and scored on held-out photos, the detect CLI and its errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepstego.images import load_rgb, save_png
from deepstego.steganalysis import classical
from deepstego.steganalysis.detect import evaluate_detector, load_detector, train_detector
from deepstego.steganalysis.detectors import DETECTORS, create_detector

from .conftest import run_cli, skimage_photo, square


@pytest.fixture(scope="module")
def detector_folder(tmp_path_factory) -> Path:
    """Training photos for detectors: real photos that are not evaluation photos (those are the held-out set)."""
    folder = tmp_path_factory.mktemp("detector_photos")
    for name in ("hubble_deep_field.jpg", "ihc.png", "retina.jpg", "camera.png", "grass.png", "gravel.png"):
        Image.open(skimage_photo(name)).convert("RGB").save(folder / (Path(name).stem + ".png"))
    return folder


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_spa_rs_and_fused_estimate_a_known_embedding_rate(photos, rate):
    for i, p in enumerate(photos):
        img = classical.lsb_embed(load_rgb(p), rate, seed=i)
        assert abs(classical.spa(img) - rate) <= 0.1, p.name
        if rate < 1:  # RS analysis's quadratic degenerates at full embedding; the fused median still holds there
            assert abs(classical.rs(img) - rate) <= 0.1, p.name
        assert abs(classical.analyse(img)["score"] - rate) <= 0.1, p.name


def test_chi_square_sees_full_embedding(photos):
    full = [classical.chi_square(classical.lsb_embed(load_rgb(p), 1.0)) for p in photos]
    clean = [classical.chi_square(load_rgb(p)) for p in photos]
    assert min(full) > 0.9 and np.median(clean) < 0.1


def test_classical_auc_on_half_bpp_lsb():
    res = evaluate_detector("classical", "lsb-random:0.5", pairs=60, size=128)
    assert res["auc"] >= 0.95 and res["accuracy"] >= 0.9
    assert abs(res["mean_score_stego"] - 0.5) <= 0.1


@pytest.mark.parametrize("method", sorted(set(DETECTORS) - {"srm"}))  # srm is fitted, not trained by gradients
def test_every_gradient_trained_detector_forward_backward_and_round_trip(method, tmp_path):
    det = create_detector(method, hider="lsb")
    x, ref = torch.rand(4, 3, 64, 64), torch.rand(4, 3, 64, 64)
    logits = det(x, ref)
    assert logits.shape == (4,)
    logits.sum().backward()
    trainable = [p for p in det.parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for p in trainable)
    from deepstego.models.weights import save_weights

    path = save_weights(det, tmp_path / "det", recipe={"size": 64})
    back = load_detector(path).eval()
    det.eval()
    with torch.no_grad():
        assert torch.allclose(det(x, ref), back(x, ref), atol=1e-5)


def test_reveal_detector_stores_only_its_head(tmp_path):
    from deepstego.models.weights import save_weights

    det = create_detector("reveal", hider="dsnet-v1")
    path = save_weights(det, tmp_path / "rev")
    from safetensors.torch import load_file

    assert not any(k.startswith("hider.") for k in load_file(str(path)))
    from deepstego.models.weights import shipped_weights

    assert path.stat().st_size < shipped_weights()["dsnet-v1"].stat().st_size / 4
    assert load_detector(path).hider.arch == "dsnet"


def test_cnn_detector_beats_chance_on_lsb4(detector_folder, tmp_path):
    """Trained briefly on lsb (k = 4) pairs from the training photos, scored on the held-out evaluation photos."""
    out = tmp_path / "cnn-lsb4"
    proc = run_cli("detect", "train", "--method", "cnn", "--hider", "lsb", "--data", detector_folder, "--pairs", "96",
                   "--size", "64", "--epochs", "6", "--quiet", "--out", out)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("detect", "eval", "--detector", out.with_suffix(".safetensors"), "--pairs", "100",
                   "--roc", tmp_path / "roc.png", "--json", tmp_path / "res.json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "res.json").read_text())
    # 100 + 100 held-out images: AUC under chance has a standard deviation of about 0.04
    assert res["auc"] > 0.7, res
    assert Image.open(tmp_path / "roc.png").size[0] > 100


def test_detect_cli_writes_a_csv(photos, tmp_path):
    clean = load_rgb(photos[0])
    save_png(classical.lsb_embed(clean, 0.5), tmp_path / "stego.png")
    save_png(clean, tmp_path / "clean.png")
    proc = run_cli("detect", tmp_path, "--csv", tmp_path / "out.csv")
    assert proc.returncode == 0, proc.stderr
    assert "2 images scored" in proc.stdout and "1 look like stego" in proc.stdout
    rows = {Path(r["file"]).name: r for r in csv.DictReader(open(tmp_path / "out.csv"))}
    assert list(rows["stego.png"]) == ["file", "chi2_p", "spa_rate", "rs_rate", "score", "verdict"]
    assert rows["stego.png"]["verdict"] == "stego" and rows["clean.png"]["verdict"] == "clean"
    assert float(rows["stego.png"]["score"]) > 0.4


def test_detect_bad_inputs(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image\n")
    tiny = tmp_path / "tiny.png"
    save_png(np.zeros((8, 8, 3), np.uint8), tiny)
    from deepstego.models.weights import save_weights

    siamese = save_weights(create_detector("siamese"), tmp_path / "siamese")
    sixteen = tmp_path / "sixteen.png"
    Image.fromarray(np.full((64, 64), 40000, np.uint16)).save(sixteen)
    cases = [
        (["detect", tiny, "--method", "siamese", "--detector", siamese, "--csv", tmp_path / "e.csv"],
         "needs --reference"),
        (["detect", tiny, "--method", "cnn", "--detector", siamese, "--csv", tmp_path / "f.csv"],
         "is a siamese detector"),
        (["detect", bad, "--csv", tmp_path / "a.csv"], "not a recognised image"),
        (["detect", tiny, "--csv", tmp_path / "b.csv"], "at least 16 px"),
        (["detect", tmp_path / "missing.png", "--csv", tmp_path / "c.csv"], "no such file"),
        (["detect", tiny, "--method", "cnn", "--csv", tmp_path / "d.csv"], "needs --detector"),
        (["detect", "train", "--hider", "lsb", "--data", tmp_path / "none", "--out", tmp_path / "det"],
         "no such folder"),
        (["detect", "train", "--hider", "lsb", "--data", tmp_path, "--pairs", "4", "--batch", "64", "--out",
          tmp_path / "det"], "--batch"),
        (["detect", "eval", "--method", "cnn", "--detector", siamese, "--pairs", "2"], "is a siamese detector"),
        (["detect", "eval", "--method", "classical", "--hider", "lsb", "--json", tmp_path / "no" / "r.json"],
         "does not exist"),
        (["detect", sixteen, "--csv", tmp_path / "g.csv"], "8-bit RGB or grayscale"),
    ]
    for args, message in cases:
        proc = run_cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.csv")) and not (tmp_path / "det.safetensors").exists()


def test_srm_detector_fits_sealwatchs_ensemble_and_scores_files(detector_folder, photos, tmp_path):
    """The rich-model detector (SPAM features here: the quick set) against 4-bit LSB image hiding: trained on the
    training photos, scored on held-out ones; its stored ensemble votes exactly as sealwatch's own classifier."""
    out = tmp_path / "srm"
    proc = run_cli("detect", "train", "--method", "srm", "--features", "spam", "--hider", "lsb", "--data",
                   detector_folder, "--pairs", "60", "--size", "64", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "ensemble:" in proc.stdout and "features: 120/120 images" in proc.stdout
    det = load_detector(out.with_suffix(".safetensors"), "srm")
    assert det.config["features"] == "spam" and det.config["learners"] == len(det.thresholds) > 0
    res = evaluate_detector(None, None, detector_path=str(out.with_suffix(".safetensors")), pairs=60)
    assert res["method"] == "srm" and res["auc"] > 0.8, res

    from deepstego.steganalysis import sealwatch_parts

    ec = sealwatch_parts.module("ensemble_classifier.ensemble_classifier")
    bl = sealwatch_parts.module("ensemble_classifier.base_learner")
    fld = sealwatch_parts.module("ensemble_classifier.fld")
    learners = []
    for sub, w, b in zip(det.subspaces.numpy(), det.weights.numpy(), det.thresholds.numpy()):
        learner = bl.BaseLearner()
        learner.subspace, learner.learner = sub, fld.FisherLinearDiscriminantLearner(w, b)
        learners.append(learner)
    z = det.frozen(torch.stack([torch.from_numpy(square(p, 64)).permute(2, 0, 1).float() / 255 for p in photos]))
    expected = ec.EnsembleClassifier(learners).predict_confidence(z.numpy())
    assert np.allclose(det.votes(z).numpy(), expected)

    stego = tmp_path / "stego.png"
    save_png(classical.lsb_embed(load_rgb(photos[0]), 0.5), stego)
    proc = run_cli("detect", stego, "--method", "srm", "--detector", out.with_suffix(".safetensors"))
    assert proc.returncode == 0, proc.stderr
    assert "1 image scored by srm" in proc.stdout
    script = tmp_path / "score.py"  # the API from a plain script, no `if __name__ == "__main__"` guard
    script.write_text("import torch\nfrom deepstego.steganalysis.detect import learned_scores, load_detector\n"
                      f"det = load_detector({str(out.with_suffix('.safetensors'))!r})\n"
                      "print('scores', len(learned_scores(det, torch.rand(4, 3, 64, 64))))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.count("scores 4") == 1, proc.stderr[-2000:]
    proc = run_cli("detect", "train", "--method", "cnn", "--features", "spam", "--hider", "lsb", "--data",
                   detector_folder, "--out", tmp_path / "cnn")
    assert proc.returncode == 2 and "unknown option(s) features" in proc.stderr


@pytest.mark.parametrize("method", ["reveal", "siamese"])
def test_reveal_and_siamese_detectors_train_evaluate_and_score(method, detector_folder, photos, tmp_path):
    path = train_detector(method, "lsb", detector_folder, 48, tmp_path / method, size=64, epochs=2, progress=False)
    res = evaluate_detector(method, None, detector_path=str(path), pairs=40)
    assert res["hider"] == "lsb" and 0 <= res["auc"] <= 1 and res["size"] == 64
    stego = tmp_path / "stego.png"
    save_png(classical.lsb_embed(load_rgb(photos[0]), 0.5), stego)
    args = ["detect", stego, "--method", method, "--detector", path, "--csv", tmp_path / "out.csv"]
    if method == "siamese":
        args += ["--reference", photos[1]]  # another size than the candidate: the trunks pool globally
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    row = next(csv.DictReader(open(tmp_path / "out.csv")))
    assert 0 <= float(row["score"]) <= 1 and row["verdict"] in ("clean", "stego")


def test_a_folder_with_one_image_is_scored(photos, tmp_path):
    save_png(load_rgb(photos[0]), tmp_path / "only.png")
    proc = run_cli("detect", tmp_path, "--csv", tmp_path / "out.csv")
    assert proc.returncode == 0, proc.stderr
    assert "1 image scored" in proc.stdout


def test_refined_hider_makes_the_stego_hide_makes(photos):
    """'NAME+refine:STEPS' gives detectors the refined stego that 'deepstego hide' writes by default."""
    from deepstego.core import hide_tensor, load_model
    from deepstego.errors import DeepStegoError
    from deepstego.images import to_tensor
    from deepstego.steganalysis.pairs import make_stego

    covers = torch.cat([to_tensor(square(p, 64)) for p in photos[:2]])
    secrets = torch.cat([to_tensor(square(p, 64)) for p in photos[2:4]])
    refined = make_stego("dsnet-v2+refine:5", covers, secrets)
    assert torch.equal(refined, hide_tensor(load_model("dsnet-v2"), covers, secrets, refine=5))
    assert not torch.equal(refined, make_stego("dsnet-v2", covers, secrets))
    assert create_detector("reveal", hider="dsnet-v2+refine:5").hider.arch == "dsnet"
    with pytest.raises(DeepStegoError, match="NAME\\+refine:STEPS"):
        make_stego("dsnet-v2+refine:many", covers, secrets)


def test_robust_hider_examples_are_shared_jpegs(photos):
    """'avif-qim': the robust image hider's stego, each under its own key, and with it every example (clean or stego)
    as a quality-90 JPEG decodes it (a detector must not learn JPEG against PNG); each stego example carries its
    secret for its key alone."""
    from deepstego import robust
    from deepstego.images import to_tensor, to_uint8
    from deepstego.keys import Key
    from deepstego.steganalysis.pairs import labelled_examples, make_stego

    covers = torch.cat([to_tensor(square(p, 128)) for p in photos[:2]])
    secrets = torch.cat([to_tensor(square(p, 128)) for p in photos[2:4]])
    stego = make_stego("avif-qim", covers, secrets, seed=3)
    for i, s in enumerate(stego):
        arr = to_uint8(s)
        assert robust.reveal_image(arr, key=Key.for_seed(300_000 + i)).shape == (128, 128, 3)
        with pytest.raises(Exception, match="no robust secret"):
            robust.reveal_image(arr, key=Key.for_seed(300_000 + 1 - i))
    x, _, labels = labelled_examples("avif-qim", [Path(p) for p in photos[:4]], 2, 128, seed=0, augment=False)
    assert x.shape == (4, 3, 128, 128) and int(labels.sum()) == 2
    # a cover too flat and saturated to carry: the next one takes its secret. Black, not white: a white crop carried
    # in 3 of 8 hides here (each hide draws a fresh nonce), a black one in none of 48
    flat = torch.zeros(1, 3, 128, 128)
    again = make_stego("avif-qim", torch.cat([flat, covers[:1]]), secrets, seed=3)
    arr = to_uint8(again[0])
    assert robust.reveal_image(arr, key=Key.for_seed(300_000)).shape == (128, 128, 3)
    with pytest.raises(Exception, match="too flat"):
        make_stego("avif-qim", flat, secrets[:1])


def test_stealth_hider_examples_are_keyed_pngs(photos):
    """'avif-stc': the stealth image hider's stego, each under its own key, one level from its cover where it
    differs, revealing its secret for its key alone; its examples are not JPEG round trips."""
    from deepstego import stealth
    from deepstego.images import to_tensor, to_uint8
    from deepstego.keys import Key
    from deepstego.steganalysis.pairs import make_stego

    covers = torch.cat([to_tensor(square(p, 128)) for p in photos[:2]])
    secrets = torch.cat([to_tensor(square(p, 128)) for p in photos[2:4]])
    stego = make_stego("avif-stc", covers, secrets, seed=3)
    assert (stego - covers).abs().max() <= 1 / 255 + 1e-6
    for i, s in enumerate(stego):
        arr = to_uint8(s)
        assert stealth.reveal_image(arr, key=Key.for_seed(300_000 + i)).shape == (128, 128, 3)
        with pytest.raises(Exception, match="no stealth-hidden secret"):
            stealth.reveal_image(arr, key=Key.for_seed(300_000 + 1 - i))


def test_srnet_trains_on_channels_last_crops():
    """detect train's crops come channels-last; SRNet's strided skip once crashed the process in the backward pass
    there. Its every-other-pixel form is the same map as the strided 1×1 convolution it replaces."""
    import torch.nn.functional as F

    from deepstego.steganalysis.detectors import SRNetDetector

    det = SRNetDetector().train()
    x = torch.rand(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    det.classify(x).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in det.parameters())
    layer = det.stages[0]
    z = torch.rand(1, layer.skip[0].in_channels, 9, 9)
    assert torch.allclose(layer.skip[0](z[:, :, ::2, ::2]), F.conv2d(z, layer.skip[0].weight, stride=2), atol=1e-6)
