"""What a keyed hider pays for leaking: a key-agnostic adversary trained alongside it, and its own reveal network
read under wrong keys.

The keyed carrier (``deepstego.keys.mix``) scrambles the code at every position, but not the code's energy per
position: a hider trained for fidelity alone lets that energy follow the secret, so a reveal under a wrong key, or
by a keyless model, picks its own secret out of twenty three times as often as chance (``tools/key_attacks.py``).
Both penalties are the excess similarity that the leakage figures measure (mean SSIM of each guess to its own
secret minus to the batch's other secrets), hinged at zero: the hider is pushed only while something leaks. The
adversary (a keyless dsnet reveal network) learns to read the secret from stego made under random keys; the shipped
keyless models' reveal networks (:func:`public_readers`) are the readers anyone already has, frozen as shipped.
"""

from __future__ import annotations

import torch
from torch import nn

from ..metrics import excess_similarity, ssim_loss


class Adversary(nn.Module):
    """A keyless dsnet reveal network (``width``, ``blocks``) with its own optimiser."""

    def __init__(self, width: int = 32, blocks: int = 3, lr: float = 1e-3):
        super().__init__()
        from ..models import create_model

        self.net = create_model("dsnet", width=width, reveal_blocks=blocks).reveal
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=1e-4)

    def learn(self, stego: torch.Tensor, secret: torch.Tensor, autocast) -> float:
        """One step of the adversary on detached stego; returns its L1 error."""
        with autocast():
            guess = self.net(stego.detach()).float()
        error = (guess - secret).abs().mean()
        loss = error + ssim_loss(secret, guess.clamp(0, 1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(error.detach())

    def penalty(self, stego: torch.Tensor, secret: torch.Tensor, autocast) -> torch.Tensor:
        """The hider's cost of what the adversary reads: its guesses' excess similarity to their own secrets
        (:func:`~deepstego.metrics.excess_similarity`), zero once they are no closer to their own secret than to
        the others. Gradients reach the stego only; the adversary's own weights are left alone."""
        for p in self.net.parameters():
            p.requires_grad_(False)
        try:
            with autocast():
                guess = self.net(stego).float()
        finally:
            for p in self.net.parameters():
                p.requires_grad_(True)
        return torch.relu(excess_similarity(guess.clamp(0, 1), secret))

    def state(self) -> dict:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict()}

    def load(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])


def wrong_key_penalty(model, stego: torch.Tensor, secret: torch.Tensor, autocast) -> torch.Tensor:
    """The hider's cost of what its own reveal network reads under a wrong (fresh random) key: the excess
    similarity of those reveals to their secrets, zero when they carry nothing of them."""
    wrong = model.random_signs(len(stego), *stego.shape[-2:]).to(stego.device)
    with autocast():
        guess = model.decode(stego, wrong).float()
    return torch.relu(excess_similarity(guess.clamp(0, 1), secret))


def public_readers() -> list:
    """Every shipped keyless dsnet model, frozen: the readers an analyst already holds. The seed design
    (baluja-seed) is left out: its reveal costs more than the hider's whole step and reads back little even of its
    own secrets (its card)."""
    from ..core import keyless_networks, load_model

    readers = [load_model(name) for name in keyless_networks()]
    for model in readers:
        for p in model.parameters():
            p.requires_grad_(False)
    return readers


def public_penalty(readers: list, stego: torch.Tensor, secret: torch.Tensor, autocast) -> torch.Tensor:
    """The hider's cost of what the shipped keyless models reveal from its stego (summed over them)."""
    total = stego.new_zeros(())
    for model in readers:
        with autocast():
            guess = model.decode(stego).float()
        total = total + torch.relu(excess_similarity(guess.clamp(0, 1), secret))
    return total
