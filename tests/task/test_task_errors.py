"""Every bad input of issue 20 through the real `sem-task` entry point: exit 2, one `error:` line, no partial task;
Ctrl-C exits 130 and leaves no task directory that `verify` accepts."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from task_data import (CAMVID, CITY_NAME, cityscapes_maps, error_line, sem_task, write_ade20k, write_camvid,
                       write_cityscapes, write_coco)


def refused(tmp_path, *args, contains=()):
    """Run ``sem-task build ... --out tmp/out``; assert exit 2, one error line with ``contains``, no task left."""
    out = tmp_path / "out"
    r = sem_task("build", *args, "--out", out)
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    line = error_line(r)
    for text in contains:
        assert text in line, (text, line)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary folder left
    return line


def test_data_root_missing(tmp_path):
    refused(tmp_path, "camvid-test", tmp_path / "nope", contains=("does not exist",))
    refused(tmp_path, "cityscapes-val", tmp_path / "nope", contains=("does not exist",))


def test_no_files_of_the_format(tmp_path):
    empty = tmp_path / "empty"
    (empty / "testannot").mkdir(parents=True)
    refused(tmp_path, "camvid-test", empty, contains=("no .png label maps", "testannot/*.png"))
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(other / "a.png")
    refused(tmp_path, "cityscapes-val", other, contains=("found no *_gtFine_labelIds.png", "gtFine/val/<city>/"))
    refused(tmp_path, "ade20k-bedroom", other, contains=("no *_seg.png", "bedroom"))
    refused(tmp_path, "coco-panoptic-val2017", other, contains=("no panoptic_val2017.json",))
    refused(tmp_path, "custom", empty, "--labels", "8", contains=("no label maps",))


def test_wrong_layout_says_found_and_expected(tmp_path):
    # CamVid: only trainannot/
    cam = tmp_path / "cam"
    (cam / "trainannot").mkdir(parents=True)
    refused(tmp_path, "camvid-test", cam, contains=("no testannot/ folder", "found trainannot", "testannot/*.png"))
    # Cityscapes: gtFine/ with train/ only
    cs = tmp_path / "cs"
    write_cityscapes(cs)
    os.rename(cs / "gtFine" / "val", cs / "gtFine" / "train")
    refused(tmp_path, "cityscapes-val", cs, contains=("found gtFine/ with train/ but no gtFine/val/",))
    # Cityscapes: labelIds files in arbitrary subfolders
    deep = tmp_path / "deep"
    write_cityscapes(deep / "x" / "y", layout="flat")
    refused(tmp_path, "cityscapes-val", deep, contains=("in subfolders", "x/y/", "gtFine/val/<city>/"))
    # Cityscapes: gtFine/val with the files directly in it (no <city>/)
    flat_val = tmp_path / "fv"
    write_cityscapes(flat_val / "gtFine" / "val", layout="flat")
    refused(tmp_path, "cityscapes-val", flat_val, contains=("no <city>/ subfolders",))
    # ADE20K: bedroom scenes only in training/; SceneParsing annotations/ instead of the full release
    ade = tmp_path / "ade"
    write_ade20k(ade)
    import shutil
    shutil.rmtree(ade / "images" / "ADE" / "validation" / "home_or_hotel" / "bedroom")
    refused(tmp_path, "ade20k-bedroom", ade, contains=("none in a validation/.../bedroom/ folder", "found"))
    sp = tmp_path / "sp"
    (sp / "annotations" / "validation").mkdir(parents=True)
    refused(tmp_path, "ade20k-bedroom", sp, contains=("SceneParsing",))
    # COCO: JSON without its PNG folder
    coco = tmp_path / "coco"
    write_coco(coco)
    shutil.rmtree(coco / "annotations" / "panoptic_val2017")
    refused(tmp_path, "coco-panoptic-val2017", coco, contains=("no annotations/panoptic_val2017/ folder",))


def test_trainids_instead_of_labelids(tmp_path):
    # only *_gtFine_labelTrainIds.png files
    d = tmp_path / "train_ids"
    folder = d / "gtFine" / "val" / "frankfurt"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((4, 4), 13, np.uint8)).save(folder / f"{CITY_NAME}_gtFine_labelTrainIds.png")
    refused(tmp_path, "cityscapes-val", d, contains=("labelTrainIds", "not trainIds"))
    # trainIds content saved under the labelIds name (255 = ignore, car = 13)
    lab, inst = cityscapes_maps()
    train = np.full_like(lab, 255)
    train[lab == 26] = 13
    write_cityscapes(tmp_path / "renamed", maps=(train, inst))
    refused(tmp_path, "cityscapes-val", tmp_path / "renamed", contains=("outside 0..33", "trainIds"))
    # a CamVid folder holding colour-coded or other ids
    cam = tmp_path / "cam"
    write_camvid(cam, {"x": np.full((4, 4), 200, np.uint8)})
    refused(tmp_path, "camvid-test", cam, contains=("outside 0..11",))


def test_instance_maps_missing_or_of_another_size(tmp_path):
    write_cityscapes(tmp_path / "noinst", instances=False)
    refused(tmp_path, "cityscapes-val", tmp_path / "noinst",
            contains=("have no instance map beside them", "_gtFine_instanceIds.png"))
    lab, inst = cityscapes_maps()
    folder = write_cityscapes(tmp_path / "size")
    Image.fromarray(inst[:, :20].astype(np.uint16)).save(folder / f"{CITY_NAME}_gtFine_instanceIds.png")
    refused(tmp_path, "cityscapes-val", tmp_path / "size", contains=("instance map of size 20x20", "is 40x20"))
    # custom: --instances without a map for every label map
    maps = tmp_path / "maps"
    maps.mkdir()
    Image.fromarray(lab).save(maps / "a.png")
    (tmp_path / "inst").mkdir()
    refused(tmp_path, "custom", maps, "--labels", "26", "--instances", tmp_path / "inst",
            contains=("no instance map at the same relative path",))


def test_out_exists_and_is_not_an_earlier_task_of_the_protocol(tmp_path, camvid_small):
    out = tmp_path / "out"
    out.write_text("x")
    r = sem_task("build", "camvid-test", camvid_small, "--out", out)
    assert r.exit_code == 2 and "is not a directory" in error_line(r) and out.read_text() == "x"
    out.unlink()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = sem_task("build", "camvid-test", camvid_small, "--out", out)
    assert r.exit_code == 2 and "not a task directory" in error_line(r) and (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    assert sem_task("build", "camvid-test", camvid_small, "--out", out, "-q").exit_code == 0  # an empty folder is fine
    before = (out / "task.json").read_bytes()
    write_cityscapes(tmp_path / "cs")
    r = sem_task("build", "cityscapes-val", tmp_path / "cs", "--out", out)
    assert r.exit_code == 2 and "holds a task of protocol camvid-test@1" in error_line(r)
    assert (out / "task.json").read_bytes() == before
    # missing parent folders are created, but only for good data
    r = sem_task("build", "camvid-test", tmp_path / "nope", "--out", tmp_path / "no" / "such" / "dir")
    assert r.exit_code == 2 and "does not exist" in error_line(r) and not (tmp_path / "no").exists()
    assert sem_task("build", "camvid-test", camvid_small, "--out", tmp_path / "new" / "dir", "-q").exit_code == 0
    r = sem_task("build", "camvid-test", camvid_small, "--out", tmp_path / "new" / "dir" / "task.json" / "x")
    assert r.exit_code == 2 and "is a file" in error_line(r)


def test_bad_custom_options(tmp_path, camvid_small):
    refused(tmp_path, "custom", camvid_small, "--labels", "car", contains=("not a class id",))
    refused(tmp_path, "custom", camvid_small, "--labels", "8", "--resolution", "big", contains=("HxW",))
    refused(tmp_path, "custom", camvid_small, "--labels", "8", "--min-area", "5", contains=("fraction",))
    refused(tmp_path, "kitti", camvid_small, contains=("unknown protocol",))
    refused(tmp_path, "camvid-test@7", camvid_small, contains=("no version",))
    # right format, but no object passes the rules (wrong ids): no empty task
    refused(tmp_path, "custom", camvid_small, "--labels", "11", contains=("no object of classes [11]",))


def test_verify_and_show_refuse_non_tasks(tmp_path):
    r = sem_task("verify", tmp_path / "nothing")
    assert r.exit_code == 2 and "does not exist" in error_line(r)
    r = sem_task("show", tmp_path)
    assert r.exit_code == 2 and "no task.json" in error_line(r)
    (tmp_path / "task.json").write_text("{")
    r = sem_task("verify", tmp_path)
    assert r.exit_code == 2 and "unreadable task.json" in error_line(r)


def test_ctrl_c_exits_130_and_leaves_no_task(tmp_path, camvid_small, monkeypatch):
    import sem_metric.task.build as build_mod

    real, calls = build_mod.encode_png, []

    def interrupt_on_third(seg, where):
        calls.append(where)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(seg, where)

    monkeypatch.setattr(build_mod, "encode_png", interrupt_on_third)
    out = tmp_path / "out"
    r = sem_task("build", "camvid-test", camvid_small, "--out", out)
    assert r.exit_code == 130 and "interrupted" in error_line(r)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert sem_task("verify", out).exit_code == 2
    # interrupted while rebuilding over an earlier task: the earlier task is left as it was, and verifies
    monkeypatch.setattr(build_mod, "encode_png", real)
    assert sem_task("build", "camvid-test", camvid_small, "--out", out, "-q").exit_code == 0
    calls.clear()
    monkeypatch.setattr(build_mod, "encode_png", interrupt_on_third)
    assert sem_task("build", "camvid-test", camvid_small, "--out", out).exit_code == 130
    assert sem_task("verify", out).exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_sigint_on_the_console_script(tmp_path):
    """A real Ctrl-C (SIGINT) on a running `sem-task build` of CamVid: exit 130, no task directory."""
    if not (CAMVID / "testannot").is_dir():
        pytest.skip(f"CamVid not found at {CAMVID} (../shared/data/camvid)")
    out = tmp_path / "out"
    code = "import sys; from sem_metric.task.cli import main; sys.exit(main())"
    proc = subprocess.Popen([sys.executable, "-c", code, "build", "camvid-test", str(CAMVID), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until the build writes into its temporary folder
        tmp = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
        if tmp and any((tmp[0] / "gt").glob("*.png")):
            break
        if proc.poll() is not None:
            pytest.fail(f"the build ended before it could be interrupted: {proc.communicate()}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
