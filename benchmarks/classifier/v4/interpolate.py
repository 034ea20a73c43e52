"""Weight interpolation of two classifiers of one architecture (WiSE-FT; ``SELECTION_RULE_v4c.md``).

    python benchmarks/classifier/v4/interpolate.py sem-lite0-v3 runs/classifier_lite0_v4b/epoch_002.safetensors \
        --alpha 0.3 0.5 0.7 --out runs/classifier_lite0_v4c_wise

theta(a) = (1 - a) theta(A) + a theta(B) for every floating tensor (batch-norm running statistics
included); integer tensors (``num_batches_tracked``) are B's. Writes ``wise_aNNN.safetensors`` (NNN =
100 a) with B's metadata plus ``sem_metric.init`` naming both ends; loadable by ``load_classifier``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))


def interpolate_state(a: dict, b: dict, alpha: float) -> dict:
    """``(1 - alpha) a + alpha b`` tensor by tensor; the two state dicts must have the same keys and shapes."""
    if a.keys() != b.keys():
        raise ValueError(f"the two weights differ in their tensors: {sorted(a.keys() ^ b.keys())[:5]}")
    out = {}
    for k, ta in a.items():
        tb = b[k]
        if ta.shape != tb.shape:
            raise ValueError(f"tensor {k}: shape {tuple(ta.shape)} vs {tuple(tb.shape)}")
        out[k] = ((1.0 - alpha) * ta.double() + alpha * tb.double()).to(ta.dtype) if ta.is_floating_point() else tb.clone()
    return out


def main(argv=None) -> int:
    """CLI: ``interpolate.py A B --alpha ... --out DIR``; prints one JSON line per file written."""
    from sem_metric import load_classifier
    from sem_metric.sem.weights import save_classifier_weights

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--alpha", type=float, nargs="+", required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    ma, mb = load_classifier(args.a, device="cpu"), load_classifier(args.b, device="cpu")
    # copies: state_dict() shares storage with the model, which load_state_dict overwrites for each alpha
    sa = {k: v.detach().clone() for k, v in ma.state_dict().items()}
    sb = {k: v.detach().clone() for k, v in mb.state_dict().items()}
    args.out.mkdir(parents=True, exist_ok=True)
    for alpha in args.alpha:
        if not 0.0 <= alpha <= 1.0:
            raise SystemExit(f"error: --alpha {alpha} is outside [0, 1]")
        mb.load_state_dict(interpolate_state(sa, sb, alpha))
        path = args.out / f"wise_a{round(alpha * 100):03d}.safetensors"
        extra = {"sem_metric.init": f"weight interpolation (1 - {alpha}) x {args.a} + {alpha} x {args.b}"}
        sha = save_classifier_weights(mb, path, extra, name=None)
        print(json.dumps({"file": str(path), "alpha": alpha, "sha256": sha}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
