"""Video in video: streaming decode → hide/reveal → encode through PyAV, lossless stego containers."""

from .io import CODECS, probe
from .pipeline import hide_video, reveal_video

# secret SSIM when the stego is H.264 yuv420p: bikes carrying carphone full-frame, default model (tools/video_figures.py)
LOSSY_SECRET_SSIM = "0.54"

__all__ = ["CODECS", "LOSSY_SECRET_SSIM", "hide_video", "probe", "reveal_video"]
