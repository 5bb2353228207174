"""Steganalysis: classical LSB attacks (``classical``), learned detectors (``detectors``), clean/stego examples
from any hider (``pairs``), and scoring, training and evaluation (``detect``)."""
