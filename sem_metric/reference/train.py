"""Train TwoSM or TwoSM+DA(Train) (paper Sec. 3.1, 3.2, Eqs. 1 and 7) on SISM samples from label maps.

    python -m sem_metric.reference.train --name twosm    --dataset camvid --epochs 4 --lr 5e-4
    python -m sem_metric.reference.train --name twosm_da --dataset camvid --epochs 4 --lr 5e-4 --da

Checkpoints (generator, discriminator, both Adam states, step, epoch, position in the epoch) go to
``<ckpt-dir>/<name>/last.pt`` every ``--ckpt-minutes`` and at the end; ``--resume`` continues from
there with the same data order (the epoch's shuffle and flips depend only on seed and epoch). One JSON
line per epoch (mean losses, time, a fixed validation subset's tIOU / hamm / NN) goes to
``<log-dir>/<name>.jsonl``; the final generator is exported as safetensors (``--export``).

The paper trains with Adam at lr 2e-5 for 200 epochs (Sec. 4.1), the default of ``--lr``; on a CPU a
few epochs at a larger lr are what fits, so the CamVid reference run passes ``--lr`` explicitly.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .. import registry
from ..atomic import atomic_write
from ..errors import InputError, SemMetricError
from ..task import iter_samples
from .da import inpaint, noise_filter
from .sism_data import (CAMVID_NUM_CLASSES, CAMVID_TARGETS, CITYSCAPES_NUM_CLASSES, CITYSCAPES_TARGETS, SISMDataset,
                        collate, default_data_root, load_camvid, make_sample, reading_protocol)
from .twosm import TwoSM, TwoSMConfig, save_generator


def build_samples(dataset: str, data_root: Optional[str], splits: Sequence[str], size_hw, min_area_frac: float,
                  targets: Optional[Sequence[int]] = None, num_classes: Optional[int] = None,
                  max_per_image: Optional[int] = None, seed: int = 0, limit: Optional[int] = None):
    """SISM samples (Sec. 3) of a dataset's splits, built by :func:`sem_metric.task.iter_samples` (the one
    implementation of objects, boxes and S^u): every object (CamVid / SceneParsing: 8-connected components;
    Cityscapes / full ADE20K: instances) of the target classes covering at least ``min_area_frac`` of the
    map at ``size_hw`` (nearest-neighbour resizing); ``max_per_image`` keeps a ``numpy.random.default_rng(seed)``
    subset per map. Returns (samples, num_classes, target labels)."""
    if dataset == "camvid":
        root = data_root or str(default_data_root() / "camvid")
        k, tl = CAMVID_NUM_CLASSES, list(CAMVID_TARGETS.values())
        for s in splits:
            load_camvid(root, s, size_hw, limit=0)  # the folder check and its message
        reads = [(reading_protocol("camvid", s, size_hw), root) for s in splits]
    elif dataset == "cityscapes":
        if not data_root:
            raise InputError("--data-root is required for cityscapes (the folder that holds gtFine/)")
        k, tl = CITYSCAPES_NUM_CLASSES, list(CITYSCAPES_TARGETS.values())
        reads = [(reading_protocol("cityscapes", s, size_hw), data_root) for s in splits]
    elif dataset == "ade20k":
        if not data_root:
            raise InputError("--data-root is required for ade20k")
        k, tl = num_classes, list(targets or [])
        if not tl:
            raise InputError("--targets is required for ade20k (class ids of the SISM target classes)")
        reads = []
        for s in splits:
            scene = Path(data_root) / "annotations" / s
            if scene.is_dir():
                reads.append((reading_protocol("labelmaps", "", size_hw), str(scene)))
            else:
                reads.append((dataclasses.replace(reading_protocol("ade20k", "", size_hw), scene=""), data_root))
    else:
        raise InputError(f"unknown dataset {dataset!r}; use camvid, cityscapes or ade20k")
    if targets:
        tl = list(targets)
    rng = np.random.default_rng(seed)
    samples = []
    for protocol, root in reads:
        protocol = dataclasses.replace(protocol, classes=tuple((t, f"class {t}") for t in tl),
                                       min_object_area_fraction=float(min_area_frac))
        per_map: List = []

        def flush() -> None:
            chosen = per_map
            if max_per_image is not None and len(per_map) > max_per_image:
                keep = sorted(rng.choice(len(per_map), size=max_per_image, replace=False).tolist())
                chosen = [per_map[i] for i in keep]
            for t in chosen:
                smp = make_sample(t.seg_c, t.target.box, t.target.label, Path(t.name).name)
                smp.extra["area"] = t.target.area
                samples.append(smp)
            per_map.clear()

        for t in iter_samples(protocol, root, limit=limit):
            if per_map and per_map[0].name != t.name:
                flush()
            per_map.append(t)
        flush()
    if num_classes:
        k = num_classes
    if k is None:
        k = int(max((int(smp.seg_c.max()) for smp in samples), default=0) + 1)
    return samples, k, tl


@torch.no_grad()
def quick_eval(model: TwoSM, samples, batch_size: int = 32) -> Dict[str, float]:
    """Mean tIOU / hamm / NN (Sec. 4.1, core metrics) of the fused map (Eq. 2 / Eq. 8) on samples."""
    preds, gts, boxes, labels = [], [], [], []
    ds = SISMDataset(samples)
    for i in range(0, len(ds), batch_size):
        b = collate([ds[j] for j in range(i, min(len(ds), i + batch_size))])
        f_n = noise_filter(b["seg_u"], b["mask"], b["label"], model.cfg.num_classes) if model.cfg.use_da else None
        pred = inpaint(model.predict_probs(b["seg_u"], b["mask"], f_n), b["seg_u"], b["mask"])
        preds += list(pred.numpy())
        gts += list(b["seg_c"].numpy())
        boxes += [tuple(int(v) for v in bx) for bx in b["box"]]
        labels += b["label"].tolist()
    return {m: float(np.mean(registry.get(m).compute(preds, gts, boxes, labels))) for m in ("tiou", "hamm", "nn")}


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save(obj, f), binary=True, what="TwoSM checkpoint")


def _samples(args: argparse.Namespace):
    """Training and validation samples (Sec. 3) of the run, built through :mod:`sem_metric.task`."""
    size_hw = tuple(args.size)
    samples, k, tl = build_samples(args.dataset, args.data_root, args.splits, size_hw, args.min_area_frac,
                                   args.targets, args.num_classes, limit=args.limit)
    if not samples:
        raise InputError("no training samples: check --data-root / --targets / --min-area-frac")
    val = []
    if args.val_split:
        val, _, _ = build_samples(args.dataset, args.data_root, [args.val_split], size_hw, args.min_area_frac,
                                  tl, k, limit=args.limit)
        val = [val[i] for i in np.random.default_rng(args.seed).permutation(len(val))[: args.val_samples]]
    return samples, val, k, tl


class _Run:
    """One resumable training run: the model, its optimisers, the loop state, the checkpoint and the log."""

    def __init__(self, args: argparse.Namespace, cfg: TwoSMConfig):
        self.args, self.cfg = args, cfg
        self.ckpt_path = Path(args.ckpt_dir) / args.name / "last.pt"
        self.log_path = Path(args.log_dir) / f"{args.name}.jsonl"
        torch.manual_seed(args.seed)
        self.model = TwoSM(cfg)
        self.opt_g, self.opt_d = self.model.make_optimizers()
        self.state = {"epoch": 0, "batch": 0, "step": 0, "elapsed_s": 0.0, "sums": {}, "n": 0}
        if args.resume and self.ckpt_path.is_file():
            self._restore()
        elif not args.resume and self.log_path.exists():
            self.log_path.unlink()

    def _restore(self) -> None:
        ck = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)  # no pickle
        if ck["config"] != self.cfg.to_dict():
            raise InputError(f"--resume: {self.ckpt_path} was trained with config {ck['config']}, not "
                             f"{self.cfg.to_dict()}; use another --name or the original options")
        self.model.G.load_state_dict(ck["G"])
        self.model.D.load_state_dict(ck["D"])
        self.opt_g.load_state_dict(ck["opt_g"])
        self.opt_d.load_state_dict(ck["opt_d"])
        self.state = ck["state"]
        print(f"[{self.args.name}] resumed from {self.ckpt_path} at epoch {self.state['epoch']} batch "
              f"{self.state['batch']} step {self.state['step']}", flush=True)

    def save(self) -> None:
        """Checkpoint everything needed to resume (atomically)."""
        _atomic_save({"G": self.model.G.state_dict(), "D": self.model.D.state_dict(),
                      "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "state": self.state,
                      "config": self.cfg.to_dict(), "args": vars(self.args)}, self.ckpt_path)

    def step(self, batch: Dict, ep: int, bi: int, n_batches: int, t0: float) -> float:
        """One update of Eq. 1 / Eq. 7; returns the time it ended."""
        args, state = self.args, self.state
        losses = self.model.train_step(batch, self.opt_g, self.opt_d)
        if not all(np.isfinite(v) for v in losses.values()):
            raise SemMetricError(f"[{args.name}] non-finite loss at step {state['step']}: {losses}; lower --lr")
        for key, v in losses.items():
            state["sums"][key] = state["sums"].get(key, 0.0) + v
        state["n"] += 1
        state["batch"] += 1
        state["step"] += 1
        now = time.time()
        state["elapsed_s"] += now - t0
        if state["step"] % args.print_every == 0:
            mean = {kk: round(vv / state["n"], 4) for kk, vv in state["sums"].items()}
            print(f"[{args.name}] epoch {ep + 1}/{args.epochs} batch {bi + 1}/{n_batches} step "
                  f"{state['step']} {mean} {state['elapsed_s']:.0f}s", flush=True)
        return now

    def end_epoch(self, ep: int, val: List) -> None:
        """Log the epoch's mean losses (and the validation scores), reset the sums, checkpoint."""
        state = self.state
        rec = {"epoch": ep + 1, "step": state["step"], "elapsed_s": round(state["elapsed_s"], 1),
               **{kk: vv / max(1, state["n"]) for kk, vv in state["sums"].items()}}
        if val:
            self.model.eval()
            rec["val"] = quick_eval(self.model, val)
            self.model.train()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as fh:     # JSON lines: one complete line per epoch
            fh.write(json.dumps(rec) + "\n")
        print(f"[{self.args.name}] epoch {ep + 1} done: {json.dumps(rec)}", flush=True)
        state.update(epoch=ep + 1, batch=0, sums={}, n=0)
        self.save()


def train(args: argparse.Namespace) -> Dict:
    """Run (or resume) one training run of Eq. 1 (TwoSM) or Eq. 7 (``--da``); returns the final summary
    dict. See the module docstring."""
    torch.set_num_threads(args.threads)
    size_hw = tuple(args.size)
    samples, val, k, tl = _samples(args)
    cfg = TwoSMConfig(num_classes=k, base_channels=args.base_channels, n_down=args.n_down, n_res=args.n_res,
                      use_da=args.da, lr=args.lr, outside_weight=args.outside_weight)
    run = _Run(args, cfg)
    state = run.state
    ds = SISMDataset(samples, hflip=not args.no_flip, seed=args.seed)
    n_batches = len(ds) // args.batch_size  # drop the last partial batch
    print(f"[{args.name}] {len(samples)} training samples, {len(val)} validation samples, K={k}, "
          f"targets={tl}, size={size_hw}, {n_batches} batches/epoch, da={cfg.use_da}, lr={cfg.lr}", flush=True)
    t_last_ck = time.time()
    run.model.train()
    stopped = "epochs"
    while state["epoch"] < args.epochs:
        ep = state["epoch"]
        ds.set_epoch(ep)
        order = np.random.default_rng([args.seed, ep]).permutation(len(ds))
        t0 = time.time()
        while state["batch"] < n_batches and not (args.max_steps and state["step"] >= args.max_steps):
            bi = state["batch"]
            batch = collate([ds[int(j)] for j in order[bi * args.batch_size:(bi + 1) * args.batch_size]])
            t0 = run.step(batch, ep, bi, n_batches, t0)
            if t0 - t_last_ck > 60 * args.ckpt_minutes:
                run.save()
                t_last_ck = t0
        if state["batch"] < n_batches:  # stopped by --max-steps
            run.save()
            print(f"[{args.name}] stopped at --max-steps {args.max_steps}", flush=True)
            stopped = "max_steps"
            break
        run.end_epoch(ep, val)
        t_last_ck = time.time()
    summary = {"name": args.name, "epochs": args.epochs, "steps": state["step"], "stopped": stopped,
               "train_time_s": round(state["elapsed_s"], 1), "train_samples": len(samples),
               "config": cfg.to_dict(), "seed": args.seed, "dataset": args.dataset, "splits": list(args.splits),
               "size_hw": list(size_hw), "min_area_frac": args.min_area_frac, "batch_size": args.batch_size,
               "command": getattr(args, "command_line", None)}
    if args.export:
        summary["sha256"] = save_generator(args.export, run.model, summary)
        print(f"[{args.name}] exported generator to {args.export} (sha256 {summary['sha256']})", flush=True)
    return summary


def parser() -> argparse.ArgumentParser:
    """Command-line options of ``python -m sem_metric.reference.train`` (Sec. 4.1 implementation details)."""
    p = argparse.ArgumentParser(prog="python -m sem_metric.reference.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="run name (checkpoint folder, log file)")
    p.add_argument("--dataset", default="camvid", choices=["camvid", "cityscapes", "ade20k"])
    p.add_argument("--data-root", default=None, help="dataset folder (camvid: ../shared/data/camvid)")
    p.add_argument("--splits", nargs="+", default=["train"])
    p.add_argument("--val-split", default="val", help="split for the per-epoch check ('' to skip)")
    p.add_argument("--val-samples", type=int, default=128)
    p.add_argument("--size", nargs=2, type=int, default=[96, 128], metavar=("H", "W"))
    p.add_argument("--min-area-frac", type=float, default=0.001, help="min object area / image area")
    p.add_argument("--targets", nargs="*", type=int, default=None, help="target class ids (default per dataset)")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="use only the first N maps per split (smoke tests)")
    p.add_argument("--da", action="store_true", help="TwoSM+DA(Train): L_rec on P^d (Eq. 7)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--max-steps", type=int, default=0, help="stop (and checkpoint) after this many steps")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-5, help="Adam lr (paper Sec. 4.1: 2e-5)")
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--n-down", type=int, default=3)
    p.add_argument("--n-res", type=int, default=2)
    p.add_argument("--outside-weight", type=float, default=1.0)
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ckpt-dir", default="runs/reference/checkpoints")
    p.add_argument("--ckpt-minutes", type=float, default=3.0)
    p.add_argument("--log-dir", default="benchmarks/reference/logs")
    p.add_argument("--export", default=None, help="write the final generator here (.safetensors)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--print-every", type=int, default=25)
    return p


def parse_command(p: argparse.ArgumentParser, argv: Optional[List[str]], module: str) -> argparse.Namespace:
    """Parse a reference command's arguments; ``args.command_line`` records the command as run (results cite it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    args.command_line = f"python -m {module} " + " ".join(argv)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``python -m sem_metric.reference.train`` (trains with Eq. 1 or Eq. 7)."""
    args = parse_command(parser(), argv, "sem_metric.reference.train")
    summary = train(args)
    if args.export and "sha256" in summary:
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)
        text = json.dumps(summary, indent=2)
        atomic_write(Path(args.log_dir) / f"{args.name}.summary.json", lambda f: f.write(text), what="summary")
    return 0


if __name__ == "__main__":
    from ..errors import run_command

    raise SystemExit(run_command(main))
