"""Issue 26: in a SISM task the resampling unit of the intervals is the source map (task.json's ``source``)."""
import shutil

from sem_metric.pipeline.intervals import bootstrap_interval
from sem_metric.task import build_task, evaluate_task


def test_task_intervals_resample_source_maps(tmp_path, camvid_small):
    out = tmp_path / "task"
    meta = build_task("camvid-test", str(camvid_small), str(out))
    shutil.copytree(out / "incomplete", tmp_path / "pred")
    r = evaluate_task(str(tmp_path / "pred"), str(out), metrics="tiou,hamm,nn")
    sources = {s["file"]: s["source"] for s in meta["samples"]}
    assert [row["source"] for row in r["samples"]] == [sources[row["file"]] for row in r["samples"]]
    n_maps = len(set(sources.values()))
    assert n_maps < len(sources)            # the fixture has a map with two objects: units != files
    for m in ("tiou", "hamm", "nn"):
        e = r["intervals"][m]
        assert e["unit"] == "source map" and e["n_units"] == n_maps
        by_map = bootstrap_interval([row[m] for row in r["samples"]], [row["source"] for row in r["samples"]])
        assert (e["low"], e["high"]) == (by_map["low"], by_map["high"])
