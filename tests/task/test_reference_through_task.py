"""The reference models build their samples through sem_metric.task (issue 20, point 5): one implementation of
objects, boxes, S^u, resizing and the datasets' encodings."""
import inspect

import numpy as np

import sem_metric.reference.sism_data as sism_data
import sem_metric.task.targets as targets
from sem_metric.reference.train import build_samples
from sem_metric.task import iter_samples
from sem_metric.reference.sism_data import reading_protocol

from task_data import camvid_maps, cityscapes_maps, write_cityscapes


def test_one_implementation():
    assert sism_data.resize_nearest is targets.resize_nearest
    assert sism_data.min_area_pixels is targets.min_area_pixels
    assert sism_data.Target is targets.Target
    src = inspect.getsource(sism_data)
    assert "ndimage" not in src and "np.nonzero" not in src  # no labeller, no box code of its own


def test_reference_samples_are_the_task_samples(camvid_small):
    samples, k, tl = build_samples("camvid", str(camvid_small), ["test"], (12, 16), 0.0)
    assert k == 12 and tl == [8, 9, 10]
    proto = reading_protocol("camvid", "test", (12, 16), tl)
    task = list(iter_samples(proto, str(camvid_small)))
    assert [(s.name, s.box, s.label) for s in samples] == [(t.name, t.target.box, t.target.label) for t in task]
    assert [s.box for s in samples] == [(2, 4, 7, 8), (12, 3, 13, 9), (1, 2, 5, 6)]
    for s, t in zip(samples, task):
        np.testing.assert_array_equal(s.seg_u, t.incomplete())
        assert s.mask.sum() == (s.box[2] - s.box[0]) * (s.box[3] - s.box[1])
    np.testing.assert_array_equal(samples[0].seg_c, camvid_maps()["0001TP_000010"])
    # a seeded subset per map, as before
    sub = build_samples("camvid", str(camvid_small), ["test"], (12, 16), 0.0, max_per_image=1, seed=3)[0]
    again = build_samples("camvid", str(camvid_small), ["test"], (12, 16), 0.0, max_per_image=1, seed=3)[0]
    assert len(sub) == 2 and [(s.name, s.box) for s in sub] == [(s.name, s.box) for s in again]
    assert sub[1].box == (1, 2, 5, 6)  # the map with one object keeps it


def test_reference_cityscapes_through_task(tmp_path):
    write_cityscapes(tmp_path / "cs")
    samples, k, tl = build_samples("cityscapes", str(tmp_path / "cs"), ["val"], (20, 40), 0.0)
    assert k == 34 and [(s.label, s.box) for s in samples] == [
        (24, (30, 10, 33, 18)), (26, (2, 8, 10, 14)), (26, (10, 8, 16, 14)), (33, (20, 18, 23, 20))]
    assert samples[0].name == "frankfurt_000000_000294"
    np.testing.assert_array_equal(samples[0].seg_c, cityscapes_maps()[0])
