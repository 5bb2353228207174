"""Photos: the default training corpus, the evaluation photos, and the pair sampler used for training."""

from .corpus import manifest_hash, prepare_corpus
from .dataset import PairSampler, PhotoBank, fixed_pairs, list_images, split_by_photo
from .evalset import eval_photos

__all__ = ["PairSampler", "PhotoBank", "eval_photos", "fixed_pairs", "list_images", "manifest_hash",
           "prepare_corpus", "split_by_photo"]
