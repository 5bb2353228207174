"""The default training photo corpus, built offline from photographs shipped in Debian wallpaper packages.

Only real photographs are kept (the packages' synthetic gradients, patterns and illustrations are left out).
Evaluation photos come from elsewhere (see :mod:`deepstego.data.evalset`) and are never trained on.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from ..errors import DeepStegoError

PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
                 "Grey", "MilkyWay", "Path", "summer_1am")


def _lomiri(root: Path) -> list[Path]:
    synthetic = ("umang_", "analogpattern_")
    return [p for p in sorted((root / "usr/share/backgrounds").glob("*.jpg")) if not p.name.startswith(synthetic)]


def _mate(root: Path) -> list[Path]:
    return sorted((root / "usr/share/backgrounds/mate/nature").glob("*.jpg"))


def _largest(folder: Path) -> Path:
    return max(folder.glob("*.*"), key=lambda p: p.stat().st_size)


def _plasma(root: Path) -> list[Path]:
    base = root / "usr/share/wallpapers"
    return [_largest(base / name / "contents/images") for name in PLASMA_PHOTOS if (base / name).exists()]


@dataclass(frozen=True)
class Source:
    package: str
    licence: str
    select: Callable[[Path], list[Path]]


SOURCES = (
    Source("lomiri-wallpapers-16.04", "CC-BY-SA / CC-BY / CC0 (see the package's copyright file)", _lomiri),
    Source("mate-backgrounds", "GPL-2+ / CC (see the package's copyright file)", _mate),
    Source("plasma-workspace-wallpapers", "LGPL-3 / CC-BY-SA (see the package's copyright file)", _plasma),
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_hash(manifest: dict) -> str:
    """sha256 of the canonical JSON of a manifest's file list: identifies a training corpus."""
    files = sorted((e["file"], e["sha256"]) for e in manifest["files"])
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise DeepStegoError(f"'{cmd[0]}' is not available: data prepare needs a Debian system (apt-get, dpkg-deb)") from None
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise DeepStegoError(f"{' '.join(cmd[:2])} failed: {last[0]}") from None


def prepare_corpus(out: Path, *, deb_dir: Path | None = None, packages: list[str] | None = None) -> dict:
    """Download the wallpaper packages (or use ``.deb`` files already in ``deb_dir``), copy their photographs to
    ``out`` and write ``out/manifest.json`` (file, package, licence, width, height, bytes, sha256). ``packages``
    picks a subset of :data:`SOURCES` by package name. Returns the manifest."""
    sources = SOURCES
    if packages:
        unknown = set(packages) - {s.package for s in SOURCES}
        if unknown:
            raise DeepStegoError(f"unknown package(s) {', '.join(sorted(unknown))}; "
                                 f"choose from {', '.join(s.package for s in SOURCES)}")
        sources = tuple(s for s in SOURCES if s.package in packages)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for src in sources:
            debs = sorted(Path(deb_dir).glob(f"{src.package}_*.deb")) if deb_dir else []
            if not debs:
                _run(["apt-get", "download", src.package], tmp)
                debs = sorted(tmp.glob(f"{src.package}_*.deb"))
            root = tmp / src.package
            _run(["dpkg-deb", "-x", str(debs[-1]), str(root)], tmp)
            for photo in src.select(root):
                stem = photo.parent.parent.parent.name if src.select is _plasma else photo.stem
                name = f"{src.package.split('-')[0]}_{stem}{photo.suffix.lower()}"
                dest = out / name
                shutil.copyfile(photo, dest)
                with Image.open(dest) as im:
                    w, h = im.size
                entries.append({"file": name, "package": src.package, "licence": src.licence, "width": w,
                                "height": h, "bytes": dest.stat().st_size, "sha256": sha256_file(dest)})
    manifest = {"files": entries}
    manifest["sha256"] = manifest_hash(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
