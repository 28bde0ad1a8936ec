"""Points as CSV: export then import gives the same points; BOM or not, ',' or ';'; a file LibreOffice wrote;
a bad file changes nothing and names every bad row and column; merge by instance; Free Client devices."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from bacrouter import pointscsv
from bacrouter.cli import main
from bacrouter.config import Paths

from .test_modbus_files import POINTS, make

MIXED = POINTS + [
    {"name": "Température, salle", "object_type": "mv", "address_type": "holding", "address": 20, "instance": 3,
     "state_texts": ["Auto", "Hand", "Off"], "state_values": [0, 1, 2], "description": 'say "hi"; ok'},
    {"name": "pump", "object_type": "bi", "address_type": "coil", "address": 4, "instance": 4, "enable": False,
     "state_texts": ["a/b", "c"], "polarity": 1, "x-ui": {"col": 3}},
    {"name": "0042", "object_type": "ai", "address_type": "input", "address": 30, "instance": 5, "data_type": "float",
     "scale": 0.1, "unit": "degrees-celsius", "cov_increment": 0.5},
]


def slave_paths(tmp_path, points=MIXED):
    paths = make(tmp_path)
    (paths.data_dir / "modbus" / "meter.json").write_text(json.dumps({"station": 3, "points": points}))
    return paths


def stored(paths):
    return json.loads((paths.data_dir / "modbus" / "meter.json").read_text())["points"]


def test_export_then_import_gives_the_same_points(tmp_path):
    paths = slave_paths(tmp_path)
    data = pointscsv.modbus_points_csv(paths, "meter")
    assert data.startswith(b"\xef\xbb\xbf") and data.split(b"\r\n")[0].decode("utf-8-sig").startswith(
        "name,description,instance,enable,object_type")
    assert "Auto/Hand/Off" in data.decode() and '"[""a/b"", ""c""]"' in data.decode()
    (paths.data_dir / "modbus" / "meter.json").write_text(json.dumps({"station": 3, "points": []}))
    report = pointscsv.import_modbus_points(paths, "meter", data)
    assert report.ok, report.problems
    assert report.added == [p["name"] for p in MIXED]
    pointscsv.apply(paths, report)
    assert stored(paths) == MIXED


@pytest.mark.parametrize("bom", [True, False])
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_bom_and_delimiters(tmp_path, bom, delimiter):
    paths = slave_paths(tmp_path)
    text = pointscsv.modbus_points_csv(paths, "meter").decode("utf-8-sig")
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    data = out.getvalue().encode("utf-8-sig" if bom else "utf-8")
    report = pointscsv.import_modbus_points(paths, "meter", data)
    assert report.ok and report.unchanged == len(MIXED) and not report.added and not report.changed, report


def test_a_bad_file_changes_nothing_and_names_every_row_and_column(tmp_path, capsys):
    paths = slave_paths(tmp_path)
    before = (paths.data_dir / "modbus" / "meter.json").read_bytes()
    bad = ("name;object_type;address_type;address;instance;state_texts\n"
           "ok;ai;holding;1;1;\n"
           "t2;ai;holding;lots;2;\n"
           "t3;xx;holding;3;3;\n"
           "t4;mv;holding;4;4;\n"
           "t5;ai;holding;5;1;\n")
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(bad)
    report = pointscsv.import_modbus_points(paths, "meter", bad.encode())
    where = {(p.row, p.column) for p in report.problems}
    assert {(3, "address"), (4, "object_type"), (5, "state_texts"), (6, "instance")} <= where, report.problems
    assert report.changes == {}
    code = main(["modbus", "points", "meter", "--import", str(csv_file), "--config-dir", str(paths.root)])
    out = capsys.readouterr()
    assert code == 1 and "bad.csv: row 3 column 'address': 'lots' is not a whole number" in out.out
    assert "nothing changed" in out.err
    assert (paths.data_dir / "modbus" / "meter.json").read_bytes() == before


def test_merge_by_instance(tmp_path, capsys):
    paths = slave_paths(tmp_path)
    csv_file = tmp_path / "merge.csv"
    csv_file.write_text("name,object_type,address_type,address,instance\n"
                        "temp_renamed,ai,holding,0,1\n"
                        "new,av,holding,40,9\n")
    assert main(["modbus", "points", "meter", "--import", str(csv_file), "--merge", "--json",
                 "--config-dir", str(paths.root)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] == ["temp_renamed"] and result["added"] == ["new"] and result["removed"] == []
    names = [p["name"] for p in stored(paths)]
    assert names == ["temp_renamed"] + [p["name"] for p in MIXED[1:]] + ["new"]
    # without --merge the rows are the points: the others are removed
    assert main(["modbus", "points", "meter", "--import", str(csv_file), "--config-dir", str(paths.root)]) == 0
    assert "0 point(s) added, 0 changed, 4 removed, 2 unchanged" in capsys.readouterr().out
    assert [p["name"] for p in stored(paths)] == ["temp_renamed", "new"]


def test_cli_export_writes_the_bom(tmp_path, capsys):
    paths = slave_paths(tmp_path)
    out = tmp_path / "meter.csv"
    assert main(["modbus", "points", "meter", "--csv", "-o", str(out), "--config-dir", str(paths.root)]) == 0
    assert out.read_bytes() == pointscsv.modbus_points_csv(paths, "meter")


def _ods(path, rows):
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name="points")
    for row in rows:
        tr = TableRow()
        for value in row:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cell = TableCell(valuetype="float", value=value)
            else:
                cell = TableCell(valuetype="string")
            cell.addElement(P(text=str(value)))
            tr.addElement(cell)
        table.addElement(tr)
    doc.spreadsheet.addElement(table)
    doc.save(str(path))


@pytest.mark.skipif(shutil.which("soffice") is None and not os.environ.get("BACROUTER_REQUIRE_ALL"),
                    reason="LibreOffice (libreoffice-calc-nogui) is not installed")
@pytest.mark.parametrize("options", ["44,34,76", "59,34,76"])  # ',' and ';' separators, UTF-8
def test_a_csv_libreoffice_wrote_imports(tmp_path, options):
    if not os.environ.get("BACROUTER_REQUIRE_ALL"):
        pytest.importorskip("odf")
    paths = slave_paths(tmp_path)
    rows = [["name", "object_type", "address_type", "address", "instance", "scale", "state_texts", "description"],
            ["Température", "ai", "holding", 0, 1, 0.1, "", "in the hall, north"],
            ["mode", "mv", "holding", 1, 2, "", "Auto/Hand/Off", ""],
            ["alarm", "bi", "coil", 3, 3, "", "Normal/Alarm", ""]]
    _ods(tmp_path / "points.ods", rows)
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                    "--convert-to", f"csv:Text - txt - csv (StarCalc):{options}", "--outdir", str(tmp_path),
                    str(tmp_path / "points.ods")], check=True, capture_output=True, timeout=180)
    data = (tmp_path / "points.csv").read_bytes()
    assert (b";" in data.split(b"\n")[0]) == options.startswith("59")
    report = pointscsv.import_modbus_points(paths, "meter", data)
    assert report.ok, report.problems
    pointscsv.apply(paths, report)
    points = stored(paths)
    assert points[0] == {"name": "Température", "object_type": "ai", "address_type": "holding", "address": 0,
                         "instance": 1, "scale": 0.1, "description": "in the hall, north"}
    assert points[1]["state_texts"] == ["Auto", "Hand", "Off"] and points[2]["state_texts"] == ["Normal", "Alarm"]


BUS = {"enable": True, "name": "b", "type": 1, "resource": "RS485-2",
       "fcdevices": [{"name": "dev1", "instance": 100, "fcpoints": [
           {"name": "p1", "object_type": "ai", "instance": 1, "tag": "fc=4, reg=0", "unit": 62},
           {"name": "p2", "object_type": "bv", "instance": 2, "tag": "fc=1, reg=3", "state_texts": ["Off", "On"],
            "value_type": 0}]}]}


def test_freeclient_device_points_round_trip_and_bad_rows(tmp_path, capsys):
    paths = make(tmp_path)
    (paths.data_dir / "freeclient").mkdir()
    target = paths.data_dir / "freeclient" / "b.json"
    target.write_text(json.dumps(BUS))
    with paths.uci_file.open("a") as uci_file:
        uci_file.write("\nconfig freeclient_bus 'b'\n\toption script 'modbus_rtu.lua'\n")
    data = pointscsv.freeclient_points_csv(paths, "b", "dev1")
    assert data.decode("utf-8-sig").startswith("name,description,instance,enable,object_type,value_type")
    report = pointscsv.import_freeclient_points(paths, "b", "dev1", data)
    assert report.ok and report.unchanged == 2, report
    bad = data.decode("utf-8-sig").replace(",ai,", ",zz,").encode()
    report = pointscsv.import_freeclient_points(paths, "b", "dev1", bad)
    assert [(p.row, p.column) for p in report.problems] == [(2, "object_type")]
    csv_file = tmp_path / "fc.csv"
    csv_file.write_bytes(data.replace(b"p1", b"renamed"))
    assert main(["freeclient", "points", "b", "dev1", "--import", str(csv_file), "--config-dir",
                 str(Paths(tmp_path).root)]) == 0, capsys.readouterr()
    assert json.loads(target.read_text())["fcdevices"][0]["fcpoints"][0]["name"] == "renamed"
