"""TwoSM: the two-stream structure generator G^0 of paper Sec. 3.1 (after Hong et al. 2018), with the
conditional PatchGAN discriminator, the losses of Eq. 1 and, with DA, Eq. 7.

Written from the paper's description; sizes are set by :class:`TwoSMConfig` (the defaults train on
a couple of CPU cores at 96x128; raise ``base_channels`` / ``n_down`` for full resolution).

Generator input: one-hot S^u (K channels, the box filled with l^t) + the box mask M -> K+1 channels.
A shared encoder (strided convolutions, then dilated residual blocks for a receptive field that
covers the box and its surroundings) feeds two decoders with skip connections:

* context stream -> K logits P~ (Sec. 3: S~ = argmax P~; with DA, P~^d of Eqs. 5-6);
* object stream  -> 1 logit; O~ = sigmoid(logit) * M, the binary object map (kept inside the box).

Discriminator: conditional PatchGAN D(S^u one-hot, O) -> patch scores (LSGAN objective).

Losses (lambda_1 = lambda_2 = lambda_3 = 1, Sec. 4.1):

* L_adv(O~, O^c): LSGAN on D(S^u, O); generator term mean((D(S^u, O~) - 1)^2).
* L_rec(O~, O^c): binary cross-entropy over the box pixels (outside the box O~ = O^c = 0).
* L_rec(P~, P^c): NLL of S^c under log_softmax(P~) (Eq. 1) or under log(P~^d / 2) (Eq. 7, DA; P~^d
  sums to 2 per pixel, P~^d / 2 is a distribution). Averaged over the box pixels plus
  ``outside_weight`` times the average over the other pixels (the box is what is evaluated; the
  outside term keeps the map consistent, it is cheap to learn since S^u already holds it).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..atomic import atomic_write
from ..errors import InputError, WeightsError
from ..labelmap.target_object import object_masks
from ..sem.weights import check_sha256, read_weights_file, safetensors_bytes, sha256_file
from .da import da_log_prob, denoise_activation, noise_filter


@dataclass
class TwoSMConfig:
    """Size and loss settings of TwoSM (Sec. 3.1, 4.1). ``lr`` defaults to the paper's 2e-5 (Adam);
    ``use_da`` switches L_rec(P) from Eq. 1 to Eq. 7."""

    num_classes: int = 12
    base_channels: int = 16
    max_channels: int = 128
    n_down: int = 3
    n_res: int = 2
    res_dilations: tuple = (1, 2)
    disc_channels: int = 32
    disc_layers: int = 3
    use_da: bool = False
    negative_slope: float = 0.01
    lambda_adv: float = 1.0
    lambda_rec_o: float = 1.0
    lambda_rec_p: float = 1.0
    outside_weight: float = 1.0
    lr: float = 2e-5
    betas: tuple = (0.5, 0.999)

    def to_dict(self) -> dict:
        """JSON-friendly dict of the Sec. 3.1 / 4.1 settings (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "TwoSMConfig":
        """Inverse of :meth:`to_dict` (Sec. 3.1 / 4.1 settings); unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise InputError(f"TwoSMConfig: unknown keys {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _norm(c: int) -> nn.Module:
    # GroupNorm (8 groups): batch-independent like instance norm, and ~2x cheaper on CPU here
    return nn.GroupNorm(min(8, c), c)


class _ResBlock(nn.Module):
    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation), _norm(c), nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=1), _norm(c))

    def forward(self, x):
        """Dilated residual block of the shared encoder (Sec. 3.1)."""
        return F.relu(x + self.body(x))


class _Decoder(nn.Module):
    def __init__(self, chans, out_channels: int):
        super().__init__()
        # chans: encoder channels from full resolution to the bottleneck
        self.ups = nn.ModuleList()
        for i in range(len(chans) - 1, 0, -1):
            self.ups.append(nn.Sequential(
                nn.Conv2d(chans[i] + chans[i - 1], chans[i - 1], 3, padding=1), _norm(chans[i - 1]),
                nn.ReLU(True)))
        self.head = nn.Conv2d(chans[0], out_channels, 1)

    def forward(self, feats):
        """Decode a stream (context P~ or object O~, Sec. 3.1) from the encoder features."""
        x = feats[-1]
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = up(torch.cat([x, skip], 1))
        return self.head(x)


class TwoSMGenerator(nn.Module):
    """Structure generator G^0 of Sec. 3.1: shared encoder over (one-hot S^u, M), a context stream that
    decodes the K-class logits P~ and an object stream that decodes the object map O~.

    ``forward(seg_u (N,H,W) long, mask (N,H,W)) -> (logits (N,K,H,W), object_logit (N,1,H,W))``.
    H and W need not be multiples of 2**n_down.
    """

    def __init__(self, cfg: TwoSMConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.num_classes
        chans = [min(cfg.base_channels * 2 ** i, cfg.max_channels) for i in range(cfg.n_down + 1)]
        self.stem = nn.Sequential(nn.Conv2d(k + 1, chans[0], 3, padding=1), _norm(chans[0]), nn.ReLU(True))
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 4, stride=2, padding=1), _norm(chans[i + 1]),
                          nn.ReLU(True)) for i in range(cfg.n_down))
        dil = list(cfg.res_dilations) or [1]
        self.res = nn.Sequential(*[_ResBlock(chans[-1], dil[i % len(dil)]) for i in range(cfg.n_res)])
        self.context = _Decoder(chans, k)
        self.object = _Decoder(chans, 1)

    def encode_input(self, seg_u: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(one-hot S^u, M): the K+1 input channels of Sec. 3.1."""
        k = self.cfg.num_classes
        seg_u = seg_u.long()
        if seg_u.numel() and (seg_u.min() < 0 or seg_u.max() >= k):
            raise InputError(f"TwoSM: S^u holds class ids outside 0..{k - 1}")
        onehot = F.one_hot(seg_u, k).permute(0, 3, 1, 2).float()
        return torch.cat([onehot, mask.float()[:, None]], 1)

    def forward(self, seg_u: torch.Tensor, mask: torch.Tensor):
        """P~ logits (N, K, H, W) and object logits (N, 1, H, W) for S^u and M (Sec. 3.1)."""
        x = self.stem(self.encode_input(seg_u, mask))
        feats = [x]
        for d in self.downs:
            x = d(x)
            feats.append(x)
        feats[-1] = self.res(x)
        return self.context(feats), self.object(feats)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN discriminator of L_adv (Eq. 1, Sec. 3.1): D(one-hot S^u, O) -> patch scores
    (N, 1, h, w), no sigmoid (LSGAN)."""

    def __init__(self, cfg: TwoSMConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.disc_channels
        layers = [nn.Conv2d(cfg.num_classes + 1, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        for i in range(1, cfg.disc_layers):
            c_out = min(c * 2, 8 * cfg.disc_channels)
            stride = 2 if i < cfg.disc_layers - 1 else 1
            layers += [nn.Conv2d(c, c_out, 4, stride=stride, padding=1), _norm(c_out), nn.LeakyReLU(0.2, True)]
            c = c_out
        layers += [nn.Conv2d(c, 1, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, seg_u_onehot: torch.Tensor, obj: torch.Tensor) -> torch.Tensor:
        """Patch scores for (S^u one-hot (N,K,H,W), O (N,1,H,W)), the conditional L_adv of Eq. 1."""
        return self.net(torch.cat([seg_u_onehot, obj], 1))


def context_log_prob(logits: torch.Tensor, f_n: Optional[torch.Tensor], cfg: TwoSMConfig) -> torch.Tensor:
    """Per-class log-probabilities used by L_rec(P): log_softmax(P~) (Eq. 1) or log(P~^d / 2)
    (Eqs. 5-7) when ``cfg.use_da``."""
    if cfg.use_da:
        if f_n is None:
            raise InputError("TwoSM with use_da needs f^N (noise_filter) for every sample")
        return da_log_prob(logits, f_n, cfg.negative_slope)
    return torch.log_softmax(logits, 1)


def context_probs(logits: torch.Tensor, f_n: Optional[torch.Tensor], cfg: TwoSMConfig) -> torch.Tensor:
    """P~ = Softmax(logits) (Sec. 3) or P~^d (Eqs. 5-6, sums to 2) when ``cfg.use_da``."""
    if cfg.use_da:
        if f_n is None:
            raise InputError("TwoSM with use_da needs f^N (noise_filter) for every sample")
        return denoise_activation(logits, f_n, cfg.negative_slope)
    return torch.softmax(logits, 1)


def rec_loss_p(logp: torch.Tensor, seg_c: torch.Tensor, mask: torch.Tensor, outside_weight: float) -> torch.Tensor:
    """L_rec(P~, P^c) (Eq. 1 / Eq. 7): NLL of S^c, mean over the box + outside_weight * mean outside."""
    nll = F.nll_loss(logp, seg_c.long(), reduction="none")  # (N, H, W)
    m = mask.float()
    inside = (nll * m).sum() / m.sum().clamp_min(1.0)
    if outside_weight == 0:
        return inside
    out = 1.0 - m
    return inside + outside_weight * (nll * out).sum() / out.sum().clamp_min(1.0)


def rec_loss_o(obj_logit: torch.Tensor, obj_c: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_rec(O~, O^c) (Eq. 1): binary cross-entropy over the box pixels."""
    bce = F.binary_cross_entropy_with_logits(obj_logit[:, 0], obj_c.float(), reduction="none")
    m = mask.float()
    return (bce * m).sum() / m.sum().clamp_min(1.0)


class TwoSM(nn.Module):
    """TwoSM / TwoSM+DA(Train): generator, discriminator and one optimisation step of Eq. 1 / Eq. 7."""

    def __init__(self, cfg: TwoSMConfig):
        super().__init__()
        self.cfg = cfg
        self.G = TwoSMGenerator(cfg)
        self.D = PatchDiscriminator(cfg)

    def make_optimizers(self):
        """Adam for G and D (Sec. 4.1: lr ``cfg.lr``, paper default 2e-5)."""
        opt_g = torch.optim.Adam(self.G.parameters(), lr=self.cfg.lr, betas=tuple(self.cfg.betas))
        opt_d = torch.optim.Adam(self.D.parameters(), lr=self.cfg.lr, betas=tuple(self.cfg.betas))
        return opt_g, opt_d

    def object_map(self, obj_logit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """O~ = sigmoid(object logit) * M (N, 1, H, W): the binary object map of Sec. 3.1 / Eq. 1."""
        return torch.sigmoid(obj_logit) * mask.float()[:, None]

    def train_step(self, batch: Dict[str, torch.Tensor], opt_g, opt_d,
                   f_n: Optional[torch.Tensor] = None) -> Dict[str, float]:
        """One step: D on real (S^u, O^c) vs fake (S^u, O~), then G on Eq. 1 (or Eq. 7 with DA).

        ``batch``: ``seg_c``, ``seg_u`` (N,H,W) long, ``mask`` (N,H,W), ``label`` (N,). ``f_n`` (N, K)
        is computed with :func:`sem_metric.reference.da.noise_filter` when None and DA is on.
        Returns the float losses.
        """
        cfg = self.cfg
        seg_c, seg_u, mask, label = batch["seg_c"], batch["seg_u"], batch["mask"].float(), batch["label"]
        if cfg.use_da and f_n is None:
            f_n = noise_filter(seg_u, mask, label, cfg.num_classes)
        obj_c = object_masks(seg_c, mask, label).float()  # O^c of Eq. 1 / Eq. 10, the one builder
        cond = F.one_hot(seg_u.long(), cfg.num_classes).permute(0, 3, 1, 2).float()

        logits, obj_logit = self.G(seg_u, mask)
        obj = self.object_map(obj_logit, mask)

        # discriminator (LSGAN)
        opt_d.zero_grad(set_to_none=True)
        d_real = self.D(cond, obj_c[:, None])
        d_fake = self.D(cond, obj.detach())
        loss_d = 0.5 * ((d_real - 1).pow(2).mean() + d_fake.pow(2).mean())
        loss_d.backward()
        opt_d.step()

        # generator: Eq. 1 / Eq. 7
        opt_g.zero_grad(set_to_none=True)
        for p in self.D.parameters():
            p.requires_grad_(False)
        l_adv = (self.D(cond, obj) - 1).pow(2).mean()
        for p in self.D.parameters():
            p.requires_grad_(True)
        l_rec_o = rec_loss_o(obj_logit, obj_c, mask)
        l_rec_p = rec_loss_p(context_log_prob(logits, f_n, cfg), seg_c, mask, cfg.outside_weight)
        loss_g = cfg.lambda_adv * l_adv + cfg.lambda_rec_o * l_rec_o + cfg.lambda_rec_p * l_rec_p
        loss_g.backward()
        opt_g.step()
        return {k: float(v.detach()) for k, v in (("loss_g", loss_g), ("loss_d", loss_d),
                ("l_adv", l_adv), ("l_rec_o", l_rec_o), ("l_rec_p", l_rec_p))}

    @torch.no_grad()
    def predict_probs(self, seg_u: torch.Tensor, mask: torch.Tensor, f_n: Optional[torch.Tensor] = None):
        """P~ (Softmax) or P~^d (with DA, Eqs. 5-6) for a batch, in eval mode."""
        was = self.G.training
        self.G.eval()
        try:
            logits, _ = self.G(seg_u, mask)
        finally:
            self.G.train(was)
        return context_probs(logits, f_n, self.cfg)


def save_generator(path, model: "TwoSM", meta: Optional[dict] = None, half: bool = True) -> str:
    """Export the generator G^0 (Sec. 3.1) as safetensors (float16 by default, to keep it small), with
    the :class:`TwoSMConfig` and ``meta`` as JSON in the file's metadata. Returns the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.detach().to(torch.float16) if half and v.is_floating_point() else v.detach()).contiguous()
          for k, v in model.G.state_dict().items()}
    data = safetensors_bytes(sd, {"config": json.dumps(model.cfg.to_dict()),
                                  "meta": json.dumps(meta or {}), "format": "sem_metric.twosm.G/1"})
    atomic_write(path, lambda f: f.write(data), binary=True, what="TwoSM generator")
    return sha256_file(data)


def load_generator(path, sha256: Optional[str] = None) -> "TwoSM":
    """Load a generator G^0 (Sec. 3.1) exported by :func:`save_generator` into a :class:`TwoSM` (float32, eval mode);
    the discriminator is freshly initialised (not needed at test time). ``model.meta`` holds the
    metadata dict, ``model.sha256`` the file hash.

    The file is read once, hashed, and the tensors are taken from exactly those bytes; with ``sha256``
    (64 hex digits) a file with another hash is refused (:class:`sem_metric.errors.WeightsError`)
    before anything is loaded. No pickle is involved (safetensors)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"TwoSM checkpoint {path} not found; train one with "
                         f"python -m sem_metric.reference.train")
    expected = check_sha256(sha256, f"TwoSM checkpoint {path}: sha256")
    data = path.read_bytes()
    digest = sha256_file(data)
    if expected is not None and digest != expected:
        raise WeightsError(f"TwoSM checkpoint {path} has sha256 {digest}, expected {expected}; "
                           "it is not the checkpoint you pinned (re-download or re-export it)")
    tensors, md = read_weights_file(path, data)
    if md.get("format") != "sem_metric.twosm.G/1":
        raise InputError(f"{path} is not a TwoSM generator export (metadata format {md.get('format')!r})")
    model = TwoSM(TwoSMConfig.from_dict(json.loads(md["config"])))
    sd = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    model.G.load_state_dict(sd, strict=True)
    model.eval()
    model.meta = json.loads(md.get("meta", "{}"))
    model.sha256 = digest
    return model
