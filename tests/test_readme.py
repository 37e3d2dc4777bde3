"""The README's Python example runs, from the repository root, and prints what the README says."""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_python_example_prints_what_the_readme_says():
    section = (REPO / "README.md").read_text().split("## Use it from Python", 1)[1]
    code, = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[:1]
    expected, = re.findall(r"prints\n\n```text\n(.*?)```", section, re.DOTALL)[:1]
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
