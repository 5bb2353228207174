"""The web app against a real server on 127.0.0.1: a concurrent load test through gradio_client and a real headless
Chromium driven by Playwright (marked ``browser``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepstego.metrics import image_metrics
from deepstego.video.io import decode

from .conftest import run_cli, skimage_photo, square
from .videos import make_clip, read_frames, reencode_h264

gradio = pytest.importorskip("gradio", reason="the app extra is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_tmp(tmp_path_factory):
    """The server's TMPDIR: its workspace (and Gradio's cache inside it) is created here."""
    return tmp_path_factory.mktemp("app-tmp")


def _request_dirs_left(app_tmp: Path, wait: float = 10.0) -> list[Path]:
    """Request folders still present once in-flight requests have had ``wait`` seconds to finish."""
    deadline = time.time() + wait
    while (left := list(app_tmp.glob("deepstego-app-*/req-*"))) and time.time() < deadline:
        time.sleep(0.2)
    return left


@pytest.fixture(scope="module")
def server(tmp_path_factory, app_tmp):
    port = _free_port()
    exe = Path(sys.executable).parent / "deepstego"
    log = tmp_path_factory.mktemp("app") / "server.log"
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", TMPDIR=str(app_tmp))
    with open(log, "w") as f:
        proc = subprocess.Popen([str(exe), "app", "--port", str(port), "--max-upload-mb", "5"], stdout=f,
                                stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(log.read_text())
            time.sleep(0.5)
    else:
        proc.kill()
        raise AssertionError("the app did not start: " + log.read_text())
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    cover, secret = d / "cover.png", d / "secret.png"
    Image.fromarray(square(skimage_photo("astronaut.png"), 160)).save(cover)
    Image.fromarray(square(skimage_photo("coffee.png"), 160)).save(secret)
    return cover, secret


def test_missing_extra_gives_an_install_hint():
    code = "import sys; sys.modules['gradio'] = None\nfrom deepstego.cli import main\nsys.exit(main(['app']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "pip install 'deepstego[app]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_refinement_slider_follows_the_model():
    """The Image tab's slider shows the chosen model's own steps: auto gives the keyless default's without a key
    and the keyed default's with one."""
    from deepstego.app.server import _default_steps
    from deepstego.core import DEFAULT_KEYED_MODEL, REFINE_STEPS, load_model

    assert _default_steps("auto", "") == REFINE_STEPS
    keyed = load_model(DEFAULT_KEYED_MODEL).meta["refine_steps"]
    assert keyed != REFINE_STEPS and _default_steps("auto", "a key") == keyed
    assert _default_steps("dsnet-k2", "") == 64 and _default_steps("lsb", "") == 0


def test_refinement_steps_are_bounded_per_request():
    """An API client cannot ask for unbounded work: steps are clamped, large covers and lsb get the network pass."""
    from deepstego.app.server import Limits, _refine_steps
    from deepstego.core import REFINE_STEPS, load_model

    net, lsb, limits = load_model(), load_model("lsb"), Limits()
    small, large = np.zeros((256, 256, 3), np.uint8), np.zeros((1080, 1920, 3), np.uint8)
    assert _refine_steps(None, net, small, limits)[0] == REFINE_STEPS
    assert _refine_steps(10**6, net, small, limits)[0] == limits.max_refine_steps
    assert _refine_steps(-5, net, small, limits)[0] == 0
    assert _refine_steps(50, lsb, small, limits)[0] == 0
    steps, note = _refine_steps(50, net, large, limits)
    assert steps == 0 and "skipped" in note
    with pytest.raises(gradio.Error):
        _refine_steps(float("nan"), net, small, limits)


def test_twenty_concurrent_image_requests(server, small_pair, app_tmp):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    cover, secret = small_pair

    def one(_):
        return client.predict(handle_file(str(cover)), handle_file(str(secret)), "dsnet-v1", 10, "", False,
                              False, api_name="/hide_image")

    started = time.time()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    assert time.time() - started < 300
    for res in results:
        stego_png = res[1]
        stego = np.asarray(Image.open(stego_png).convert("RGB"))
        assert stego.shape == (160, 160, 3)
        assert "SSIM" in res[3]
    # every request's working folder is gone; the served copies live in Gradio's cache inside the workspace
    assert len(list(app_tmp.glob("deepstego-app-*"))) == 1
    assert _request_dirs_left(app_tmp) == []
    assert list(app_tmp.glob("deepstego-app-*/gradio/**/stego.png"))


def test_keyed_model_through_the_app(server, small_pair):
    """The key fields of the Image and Reveal tabs with the Model list at its first choice, auto (the default keyed
    model with a key): the right key reveals the secret, another key does not, and a keyed model without a key is a
    readable page error."""
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    cover, secret = small_pair
    res = client.predict(handle_file(str(cover)), handle_file(str(secret)), "auto", 0, "app key", False,
                         False, api_name="/hide_image")
    fitted = np.asarray(Image.open(secret).convert("RGB"))
    def reveal(key: str) -> str:  # the Reveal tab answers with updates of its image and video outputs
        image = client.predict(handle_file(res[1]), "auto", key, False, False, api_name="/reveal")[0]
        return image["value"] if isinstance(image, dict) else image

    right, wrong = reveal("app key"), reveal("not the key")
    ok = image_metrics(fitted, np.asarray(Image.open(right).convert("RGB")))["ssim"]
    bad = image_metrics(fitted, np.asarray(Image.open(wrong).convert("RGB")))["ssim"]
    assert ok > 0.8 and bad < ok - 0.4, (ok, bad)
    with pytest.raises(Exception, match="keyed model"):
        client.predict(handle_file(res[1]), "dsnet-k3", "", False, False, api_name="/reveal")


def test_robust_image_through_the_app(server, tmp_path):
    """The robust choice of the Image and Reveal tabs: a JPEG download that, re-saved by Pillow, still reveals with
    the right key; another key is a readable page error."""
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    cover, secret = tmp_path / "cover.png", tmp_path / "secret.png"
    Image.fromarray(square(skimage_photo("coffee.png"), 192)).save(cover)
    Image.fromarray(square(skimage_photo("chelsea.png"), 192)).save(secret)
    res = client.predict(handle_file(str(cover)), handle_file(str(secret)), "dsnet-v2", 14, "app key", True,
                         False, api_name="/hide_image")
    with Image.open(res[1]) as im:
        assert im.format == "JPEG"
        im.convert("RGB").save(tmp_path / "shared.jpg", format="JPEG", quality=90)
    image = client.predict(handle_file(str(tmp_path / "shared.jpg")), "dsnet-v2", "app key", True, False,
                           api_name="/reveal")[0]
    got = np.asarray(Image.open(image["value"] if isinstance(image, dict) else image).convert("RGB"))
    assert image_metrics(np.asarray(Image.open(secret).convert("RGB")), got)["ssim"] > 0.6
    with pytest.raises(Exception, match="no robust secret"):
        client.predict(handle_file(str(tmp_path / "shared.jpg")), "dsnet-v2", "not the key", True, False,
                       api_name="/reveal")


def test_robust_video_through_the_app(server, tmp_path):
    """The Video tab's robust choice: an H.264 MP4 download that, re-encoded at crf 23 by another PyAV call, the
    Reveal tab's robust choice reveals with the key."""
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    cover = make_clip(tmp_path / "cover.mp4", "coffee.png", 40, 480, 352)
    secret = make_clip(tmp_path / "secret.mp4", "astronaut.png", 40, 160, 128)
    res = client.predict(handle_file(str(cover)), handle_file(str(secret)), "dsnet-v2", "app key", True,
                         api_name="/hide_video")
    stego = Path(res[0])
    assert stego.suffix == ".mp4" and "frames" in res[3]
    shared = reencode_h264(stego, tmp_path / "shared.mp4")
    video = client.predict(handle_file(str(shared)), "dsnet-v2", "app key", True, False, api_name="/reveal")[1]
    got = read_frames(Path(video["value"] if isinstance(video, dict) else video))  # an update: {value, visible}
    want = read_frames(secret)
    assert len(got) == len(want)
    assert np.mean([image_metrics(a, b)["ssim"] for a, b in zip(want, got)]) > 0.75


def test_stealth_through_the_app(server, small_pair):
    """The Image and Reveal tabs' stealth choice: a PNG that differs from its cover in a few colour values by one
    level each and, with Stealth ticked and the key, reveals the secret; another key is a readable page error, and
    so is ticking robust and stealth together."""
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    cover, secret = small_pair
    res = client.predict(handle_file(str(cover)), handle_file(str(secret)), "dsnet-v2", 14, "app key", False, True,
                         api_name="/hide_image")
    diff = np.abs(np.asarray(Image.open(res[1]).convert("RGB")).astype(int)
                  - np.asarray(Image.open(cover).convert("RGB")).astype(int))
    assert diff.max() == 1 and 0 < (diff > 0).mean() < 0.1 and "Stealth" in res[3], (diff.max(), res[3])
    image = client.predict(handle_file(res[1]), "dsnet-v2", "app key", False, True, api_name="/reveal")[0]
    got = np.asarray(Image.open(image["value"] if isinstance(image, dict) else image).convert("RGB"))
    assert image_metrics(np.asarray(Image.open(secret).convert("RGB")), got)["ssim"] > 0.7
    with pytest.raises(Exception, match="no stealth-hidden secret"):
        client.predict(handle_file(res[1]), "dsnet-v2", "not the key", False, True, api_name="/reveal")
    with pytest.raises(Exception, match="either robust or stealth"):
        client.predict(handle_file(str(cover)), handle_file(str(secret)), "dsnet-v2", 14, "", True, True,
                       api_name="/hide_image")


@pytest.mark.browser
def test_browser_image_video_reveal_and_errors(server, small_pair, app_tmp, tmp_path):
    pw = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    # the README's screenshots are refreshed only on request: DEEPSTEGO_SCREENSHOTS=docs/screenshots make test
    shots = Path(os.environ["DEEPSTEGO_SCREENSHOTS"]) if os.environ.get("DEEPSTEGO_SCREENSHOTS") else None
    out = tmp_path / "browser"
    out.mkdir()
    cover, secret = small_pair
    vcover = make_clip(tmp_path / "vcover.mp4", "astronaut.png", 8, 96, 64)
    vsecret = make_clip(tmp_path / "vsecret.mp4", "coffee.png", 8, 96, 64)
    bad = tmp_path / "bad.png"
    bad.write_text("this is not an image\n")
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400}, accept_downloads=True)
        page.goto(server)
        # Image tab
        page.locator("#img-cover input[type=file]").set_input_files(str(cover))
        page.locator("#img-secret input[type=file]").set_input_files(str(secret))
        page.locator("#img-hide").click()
        page.locator("#img-stego img").wait_for(timeout=120_000)
        page.locator("#img-revealed img").wait_for(timeout=120_000)
        page.locator("#img-stego-file a").first.wait_for(timeout=60_000)
        stego_path = _download(page, "#img-stego-file a", out / "stego.png")
        assert Image.open(stego_path).format == "PNG"
        _screenshot(page, out, shots, "image_tab.png")
        # Reveal tab, with the downloaded stego
        revealed = _reveal_in_tab(page, server, stego_path, "#rev-image img", out / "revealed.png")
        got = np.asarray(Image.open(revealed).convert("RGB"))
        want = np.asarray(Image.open(secret).convert("RGB"))
        assert image_metrics(want, got)["ssim"] > 0.70
        _screenshot(page, out, shots, "reveal_tab.png")
        # an invalid upload shows a readable message in the page
        page.locator(CLEAR_REVEAL).first.click()
        page.locator("#rev-file input[type=file]").set_input_files(str(bad))
        page.locator("#rev-go").click()
        page.get_by_text("not a recognised image file").first.wait_for(timeout=60_000)
        # Video tab
        page.get_by_role("tab", name="Video").click()
        page.locator("#vid-cover input[type=file]").set_input_files(str(vcover))
        page.locator("#vid-secret input[type=file]").set_input_files(str(vsecret))
        page.locator("#vid-hide").click()
        page.locator("#vid-revealed video").wait_for(timeout=300_000)
        page.locator("#vid-stego a").first.wait_for(timeout=60_000)
        text = page.locator("#vid-figures").inner_text()
        assert "Secret SSIM" in text
        _screenshot(page, out, shots, "video_tab.png")
        # reveal the downloaded lossless stego video in the Reveal tab
        vstego = _download(page, "#vid-stego a", out / "stego.mkv")
        vrevealed = _reveal_in_tab(page, server, vstego, "#rev-video video", out / "revealed.mp4", clear=True)
        browser.close()
    got = [f for _, f in decode(vrevealed)]
    want = [f for _, f in decode(vsecret)]
    assert len(got) == len(want) == 8
    assert np.mean([image_metrics(w, g)["ssim"] for w, g in zip(want, got)]) > 0.70
    assert _request_dirs_left(app_tmp) == []


CLEAR_REVEAL = "#rev-file button[aria-label*='Clear'], #rev-file button[aria-label*='clear']"


def _download(page, link: str, dest: Path) -> Path:
    with page.expect_download() as dl:
        page.locator(link).first.click()
    dl.value.save_as(dest)
    return dest


def _screenshot(page, out: Path, shots: Path | None, name: str) -> None:
    """Into the test's output folder, and into ``shots`` (the README's folder) when asked."""
    page.screenshot(path=str(out / name), full_page=True)
    assert Image.open(out / name).size[0] >= 1000
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / name, shots / name)


def _reveal_in_tab(page, server: str, stego: Path, result: str, dest: Path, clear: bool = False) -> Path:
    """Upload ``stego`` in the Reveal tab (``clear``: remove the previous upload first), click Reveal and fetch the
    media element ``result`` shows."""
    page.get_by_role("tab", name="Reveal").click()
    if clear:
        page.locator(CLEAR_REVEAL).first.click()
    page.locator("#rev-file input[type=file]").set_input_files(str(stego))
    page.locator("#rev-go").click()
    media = page.locator(result)
    media.wait_for(timeout=300_000)
    src = media.get_attribute("src")
    urllib.request.urlretrieve(src if src.startswith("http") else server.rstrip("/") + src, dest)
    return dest
