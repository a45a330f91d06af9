"""The GTV-SAMGAN discriminator: an MLP that scores a mask as real (ground truth) or generated."""

from __future__ import annotations

from torch import nn


class Discriminator(nn.Module):
    """Flatten a (B, 1, S, S) mask → Linear 512 → LeakyReLU(0.2) → Linear 256 → LeakyReLU(0.2) → Linear 9 → Sigmoid.

    Returns (B, 9) probabilities of "real". The paper feeds masks (probabilities); the authors' code feeds
    logits, which :func:`gtvlib.train` offers as a named option.
    """

    def __init__(self, image_size: int = 256):
        super().__init__()
        self.image_size = image_size
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(image_size * image_size, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 9), nn.Sigmoid(),
        )

    def forward(self, masks):
        return self.net(masks)
