import subprocess
import sys

from grainseg import __version__
from grainseg.cli import main


def test_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out
    assert main([]) == 0


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "grainseg.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "grainseg" in result.stdout
