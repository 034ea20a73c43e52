"""Pure functions of sem_metric.pipeline.report: JSON, CSV and the summary table."""
import copy
import csv
import io
import json

import pytest

from sem_metric import registry
from sem_metric.pipeline import checks as ck
from sem_metric.pipeline import report
from sem_metric.errors import InputError


# ------------------------------------------------------------------------------ JSON / CSV / table
def test_json_round_trip_full_precision(tmp_path, make_result):
    r = make_result(means={"tiou": 1 / 3, "hamm": 0.1 + 0.2, "nn": 7 / 3})
    text = report.to_json(r)
    back = json.loads(text)
    assert back == r and back["means"]["tiou"] == 1 / 3
    p = tmp_path / "r.json"
    p.write_text(text)
    assert ck.load_result(str(p)) == r


def test_json_rejects_nan(make_result):
    r = make_result(means={"tiou": float("nan")})
    with pytest.raises(ValueError):
        report.to_json(r)


def test_csv_rows_and_header(make_result):
    samples = [{"file": "x/a.png", "box_index": i, "bbox": [i, 0, i + 2, 3], "label": 4, "tiou": 1 / 3, "nn": i}
               for i in range(3)]
    r = make_result(means={"tiou": 1 / 3, "nn": 1.0}, samples=samples)
    rows = list(csv.reader(io.StringIO(report.to_csv(r))))
    assert rows[0] == ["file", "box_index", "x0", "y0", "x1", "y1", "label", "tiou", "nn"]
    assert len(rows) == 1 + 3
    assert rows[2] == ["x/a.png", "1", "1", "0", "3", "3", "4", repr(1 / 3), "1"]
    assert float(rows[1][7]) == 1 / 3


def test_format_table(make_result):
    text = report.format_table(make_result())
    for word in ("tIOU", "hamm", "NN", "Sem", "higher", "lower", "total 4 noise pixels", "samples 1 |"):
        assert word in text
    assert "n/a" in report.format_table(make_result(means={"tiou": None}, samples=[]))
