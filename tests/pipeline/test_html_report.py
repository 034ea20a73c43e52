"""The HTML report (issue #11 item 4): page structure, images, worst-sample selection, CLI, Chromium render."""
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from bounds import within
from PIL import Image

from sem_metric import registry
from sem_metric.errors import InputError
from sem_metric.pipeline import html_report as hr
from sem_metric.pipeline.evaluate import SemOptions, evaluate_dirs, evaluate_samples

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class _Page(HTMLParser):
    """Collects what the tests check: sections, sample rows per metric section, the summary table, images."""

    def __init__(self):
        super().__init__()
        self.sections = []          # ids of <section class="metric">
        self.rows = {}              # section id -> number of <tr class="sample">
        self.images = []            # img src
        self.links = []             # href / src of anything else
        self.tables = {}            # table id -> number of <tr>
        self.scripts = 0
        self.top_items = 0          # <li> inside <ol class="top">
        self._section = None
        self._table = None
        self._in_top = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id")
            if "metric" in (a.get("class") or "").split():
                self.sections.append(a.get("id"))
                self.rows[a.get("id")] = 0
        elif tag == "table":
            self._table = a.get("id")
            self.tables.setdefault(self._table, 0)
        elif tag == "tr":
            if self._table is not None:
                self.tables[self._table] += 1
            if a.get("class") == "sample" and self._section in self.rows:
                self.rows[self._section] += 1
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "ol" and a.get("class") == "top":
            self._in_top = True
        elif tag == "li" and self._in_top:
            self.top_items += 1
        for key in ("href", "src"):
            if key in a and tag != "img":
                self.links.append(a[key])

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "ol":
            self._in_top = False
        elif tag == "section":
            self._section = None


def _parse(index: Path) -> _Page:
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    return page


def _check_page(out: Path, result, k: int) -> _Page:
    """Structure every report must have, whatever the metrics."""
    page = _parse(out / "index.html")
    assert page.scripts == 0 and not page.links, "self-contained: no script, no external resource"
    assert page.sections == [f"metric-{m}" for m in result["metrics"]]
    n = len(result["samples"])
    for m in result["metrics"]:
        if registry.get(m).level == "sample":
            assert page.rows[f"metric-{m}"] == min(k, n), m
    assert page.tables["summary"] == 1 + len(result["metrics"])
    assert page.tables["per-class"] == 1 + len(result["per_class"]["classes"])
    assert "metadata" in page.tables
    assert page.images
    for src in page.images:
        assert not src.startswith(("http:", "https:", "//", "/")), src
        path = out / src
        assert path.is_file(), src
        with Image.open(path) as im:
            assert im.format == "PNG"
    return page


def test_worst_samples_follow_the_registry_direction(make_result):
    rows = [{"file": f"{i}.png", "box_index": 0, "bbox": [0, 0, 1, 1], "label": 1,
             "tiou": t, "nn": n} for i, (t, n) in enumerate([(0.5, 3), (0.2, 0), (0.9, 7), (0.2, 1)])]
    res = make_result(means={"tiou": 0.45, "nn": 2.75}, samples=rows)
    assert hr.worst_samples(res, "tiou", 3) == [1, 3, 0]      # higher is better: lowest first, ties in order
    assert hr.worst_samples(res, "nn", 2) == [2, 0]           # lower is better: highest first


def test_palette_is_deterministic_and_distinct():
    cols = [hr.palette_color(i) for i in range(60)]
    assert cols == [hr.palette_color(i) for i in range(60)] and len(set(cols[:20])) == 20
    seg = np.array([[0, 1], [300, 1]])
    rgb = hr.colourise(seg)
    assert rgb.shape == (2, 2, 3) and tuple(rgb[0, 1]) == hr.palette_color(1) == tuple(rgb[1, 1])


def test_histogram_png():
    img = hr.histogram_png([0.1, 0.5, 0.5, 0.9], "tIOU", mean=0.5)
    assert img.size == (360, 170) and len(img.getcolors(360 * 170)) > 2
    assert hr.histogram_png([3, 3, 0], "NN", integer=True, mean=2.0).size == (360, 170)
    assert hr.histogram_png([], "empty").size == (360, 170)


def test_report_of_the_example_labelmap_metrics(tmp_path):
    res = evaluate_dirs(str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), str(EXAMPLES / "boxes.json"),
                        class_names=str(EXAMPLES / "class_names.json"))
    out = tmp_path / "report"
    index = hr.write_report(res, out, k=3)
    assert index == str(out / "index.html")
    page = _check_page(out, res, 3)
    assert page.top_items == 0                                    # no Sem: no top-3
    text = (out / "index.html").read_text()
    assert "5 car" in text and "6 person" in text                # legend and targets carry names
    assert {f"img/hist_{m}.png" for m in res["metrics"]} <= set(page.images)
    # the object-map images are the classifier's box window (96 px, shown at 120 px)
    with Image.open(out / "img" / "s0_gt_obj.png") as im:
        assert im.size == (hr._WINDOW_PX, hr._WINDOW_PX)
    # writing again replaces the earlier report's images
    (out / "img" / "stale.png").write_bytes(b"x")
    hr.write_report(res, out, k=1)
    assert not (out / "img" / "stale.png").exists()
    _check_page(out, res, 1)


def test_report_shows_the_task_of_a_task_result(tmp_path):
    """Issue 27: metadata.task (protocol, version, digest) is in the page header and the metadata table; a
    result without a task has neither."""
    res = evaluate_dirs(str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), str(EXAMPLES / "boxes.json"))
    hr.write_report(res, tmp_path / "plain", k=1)
    assert 'id="task"' not in (tmp_path / "plain" / "index.html").read_text()
    digest = "ab" * 32
    res["metadata"]["task"] = {"protocol": "cityscapes-val", "protocol_version": 1, "dataset": "Cityscapes gtFine",
                               "digest": digest, "digest_version": 1, "samples": 7, "path": "t"}
    hr.write_report(res, tmp_path / "task", k=1)
    text = (tmp_path / "task" / "index.html").read_text()
    assert '<code id="task">cityscapes-val@1 (Cityscapes gtFine; 7 samples)</code>' in text
    assert f"<code>{digest[:16]}</code>" in text                           # header: short digest
    assert f"{digest} (digest version 1)" in text                          # metadata table: the full one
    _check_page(tmp_path / "task", res, 1)


def test_report_with_sem_shows_what_the_classifier_saw(tmp_path, random_classifier, one_torch_thread):
    """Top-3 of the recorded classifier on the box-window inputs: the same numbers Sem (Eq. 10) used."""
    from sem_metric.sem.metric import probabilities_from_inputs, sem_from_probabilities
    from sem_metric.sem.preprocess import classifier_input
    import torch

    gt = np.zeros((20, 24), dtype=np.uint8)
    gt[4:14, 5:15] = 3
    pred = gt.copy()
    pred[4:9, 5:15] = 1
    maps = {"a": (pred, gt), "b": (gt.copy(), gt)}
    boxes = {"a": [{"bbox": [2, 2, 18, 16], "label": 3}], "b": [{"bbox": [2, 2, 18, 16], "label": 3}]}
    res = evaluate_samples(maps, boxes, "tiou,hamm,sem", sem_options=SemOptions(classifier=random_classifier))
    out = tmp_path / "r"
    hr.write_report(res, out, k=8, load_pair=lambda name: maps[name], classifier=random_classifier)
    page = _check_page(out, res, 8)
    assert page.top_items == 3 * 2 * 2 * 3                        # 3 sections x 2 samples x (GT, pred) x top-3
    # the report's windows are the classifier inputs of Sem
    x = torch.stack([classifier_input(gt, (2, 2, 18, 16), 3), classifier_input(pred, (2, 2, 18, 16), 3)])
    p = probabilities_from_inputs(x, random_classifier)
    assert sem_from_probabilities(p[1], p[0]) == within("sem", res["samples"][0]["sem"])
    # results computed in memory need load_pair
    with pytest.raises(InputError, match="load_pair"):
        hr.write_report(res, tmp_path / "r2", classifier=random_classifier)


def test_report_dir_safety(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        hr.check_report_dir(tmp_path / "file")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not a sem-score report"):
        hr.check_report_dir(tmp_path / "other")
    assert hr.check_report_dir(tmp_path / "new") == tmp_path / "new"


def test_cli_report_and_per_class(tmp_path, one_torch_thread):
    """`sem-score --report DIR --report-k 2 --per-class --class-names ...` with Sem on the shipped weights."""
    from sem_metric.cli import main as cli_main
    from click.testing import CliRunner

    out = tmp_path / "rep"
    r = CliRunner().invoke(cli_main, [str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), "--boxes",
                                      str(EXAMPLES / "boxes.json"), "--metrics", "tiou,nn,sem", "--threads", "1",
                                      "--class-names", str(EXAMPLES / "class_names.json"), "--per-class",
                                      "--report", str(out), "--report-k", "2", "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert "per class (3 target labels)" in r.output and "bicycle" in r.output
    res = json.loads((tmp_path / "r.json").read_text())
    assert [c["name"] for c in res["per_class"]["classes"]] == ["car", "person", "bicycle"]
    page = _check_page(out, res, 2)
    assert page.top_items == 3 * 2 * 2 * 3
    text = (out / "index.html").read_text()
    assert res["metadata"]["sem"]["classifier"]["sha256"] in text and "box-window-v1" in text
    # the same page from the saved result
    assert hr.main([str(tmp_path / "r.json"), "--out", str(tmp_path / "again"), "-k", "1"]) == 0
    _check_page(tmp_path / "again", res, 1)


@pytest.mark.parametrize("args, msg", [
    (["--report-k", "3"], "--report-k needs --report"),
    (["--class-names", "kitti"], "neither a built-in set"),
])
def test_cli_report_usage_errors(tmp_path, args, msg):
    from sem_metric.cli import main as cli_main
    from click.testing import CliRunner

    r = CliRunner().invoke(cli_main, [str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), "--boxes",
                                      str(EXAMPLES / "boxes.json"), *args])
    assert r.exit_code == 2 and "error:" in r.output and msg in r.output


def test_cli_refuses_a_foreign_report_folder(tmp_path):
    from sem_metric.cli import main as cli_main
    from click.testing import CliRunner

    (tmp_path / "keep.txt").write_text("x")
    r = CliRunner().invoke(cli_main, [str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), "--boxes",
                                      str(EXAMPLES / "boxes.json"), "--report", str(tmp_path),
                                      "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 2 and "not a sem-score report" in r.output
    assert not (tmp_path / "r.json").exists() and (tmp_path / "keep.txt").read_text() == "x"


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed "
                                                "(Debian: apt-get install -y chromium); the page is not rendered")
def test_report_renders_in_headless_chromium(tmp_path):
    res = evaluate_dirs(str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), str(EXAMPLES / "boxes.json"))
    index = hr.write_report(res, tmp_path / "rep", k=2)
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1280,1600",
           Path(index).resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1280, 1600)
        colours = im.convert("RGB").resize((64, 80)).getcolors(64 * 80)
        assert colours is not None and len(colours) > 20      # something was drawn, not a blank page
