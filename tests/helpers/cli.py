"""What the CLI prints, read the way the tests check it."""

from __future__ import annotations


def one_error_line(capsys) -> str:
    """The single ``grainseg ...: error: ...`` line on stderr (progress bars aside); no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("grainseg ")]
    assert len(lines) == 1 and "error" in lines[0], err
    return lines[0]
