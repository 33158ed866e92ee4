"""pyright over components/ and stacks/: misspelt arguments and wrong enum types against the SDKs' own type hints."""
import json
import os
import subprocess
import sys

from tools.preview import ROOT


def test_pyright_finds_no_errors():
    pyright = os.path.join(os.path.dirname(sys.executable), "pyright")
    result = subprocess.run([pyright, "--outputjson"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    errors = [f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}" for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert errors == []
    assert report["summary"]["filesAnalyzed"] >= 15
