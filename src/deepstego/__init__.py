"""deepstego: hide a colour image inside another (and a video inside a video) with small convolutional networks.

The plain API: :func:`load_model`, :func:`hide`, :func:`reveal`; the registry: :func:`list_models`,
:func:`create_model`.
"""

from .core import hide, load_model, reveal
from .errors import DeepStegoError
from .models import create_model, list_models
from .video import hide_video, reveal_video

__all__ = ["DeepStegoError", "create_model", "hide", "hide_video", "list_models", "load_model", "reveal", "reveal_video"]
__version__ = "0.1.0"
