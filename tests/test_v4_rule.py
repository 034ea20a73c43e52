"""The classifier ship rules' choice (benchmarks/classifier/v4/evaluate_v4.py): score-then-gates (v4-v4c)
and gates-then-score (v4d), on hand-made selection rows."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.classifier.v4.evaluate_v4 import choose, verdict_line  # noqa: E402

BANKS = ("val_coco", "val_voc")


def _row(name, s1_low, score, car=0.5, person=0.9, s2_high=0.01):
    return {"candidate": name, "sha256": name * 2, "score": score,
            "S1_latent_select": {"diff_ci": [s1_low, s1_low + 0.01]},
            "S2_balanced_top1": {b: {"diff_ci": [-0.02, s2_high]} for b in BANKS},
            "S3_camvid_val_fgt": {"car": {"rate": car}, "person": {"rate": person}}}


REF = _row("v3", 0.0, 1.25, car=0.37, person=0.83)


def test_score_then_gates_rejects_the_attempt_when_the_best_score_fails_a_gate():
    cands = [_row("a030", 0.002, 1.29), _row("a050", 0.0017, 1.31), _row("a070", -0.0004, 1.32)]
    v = choose(cands, REF, BANKS, "score")
    assert v["chosen"] == "a070" and v["checks"]["S1_beats_v3_beyond_noise"] is False
    assert v["selection_figures_pass"] is False
    assert "**no**" in verdict_line(v)


def test_gates_then_score_chooses_the_best_admissible_one():
    cands = [_row("a030", 0.002, 1.29), _row("a050", 0.0017, 1.31), _row("a070", -0.0004, 1.32),
             _row("worse_s3", 0.01, 1.40, car=0.30)]
    v = choose(cands, REF, BANKS, "admissible")
    assert v["admissible"] == ["a030", "a050"] and v["chosen"] == "a050" and v["selection_figures_pass"]
    # a tie within 0.001 goes to the candidate listed first (the rule lists the smaller a first)
    v = choose([_row("a030", 0.002, 1.3105), _row("a050", 0.002, 1.311)], REF, BANKS, "admissible")
    assert v["chosen"] == "a030"


def test_gates_then_score_without_an_admissible_candidate_chooses_nothing():
    v = choose([_row("a", -0.001, 1.5), _row("b", 0.01, 1.4, s2_high=-0.001)], REF, BANKS, "admissible")
    assert v["chosen"] is None and v["selection_figures_pass"] is False
    assert "no candidate passes" in verdict_line(v)
