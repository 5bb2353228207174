"""Video in video: streaming decode → hide/reveal → encode through PyAV, lossless stego containers."""

from .io import CODECS, probe
from .pipeline import hide_video, reveal_video

# secret SSIM measured on bikes-in-carphone-style pairs when the stego is H.264 yuv420p (see README, "Video")
LOSSY_SECRET_SSIM = "0.26"

__all__ = ["CODECS", "LOSSY_SECRET_SSIM", "hide_video", "probe", "reveal_video"]
