"""The one rule for progress bars: explicit flag, then --quiet, then "is stderr a terminal"."""

from __future__ import annotations

import io
import sys

import pytest

from pyomo_llmprice import progress
from pyomo_llmprice.progress import is_quiet, progress_bar, quiet, show_progress


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal (as a console's stderr does)."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("enabled", "quiet_flag", "tty", "shown"),
    [
        (None, False, True, True),  # a person at a terminal: bar
        (None, False, False, False),  # a pipe, a file, pytest's capture: silent
        (None, True, True, False),  # --quiet on a terminal: silent
        (None, True, False, False),
        (False, False, True, False),  # the caller said no
        (True, False, False, True),  # the caller said yes: drawn even into a file
        (True, True, False, True),
    ],
)
def test_decision_table(enabled, quiet_flag, tty, shown):
    stream = FakeTerminal() if tty else io.StringIO()
    with quiet(quiet_flag):
        assert show_progress(enabled, stream) is shown
        bar = progress_bar(range(3), enabled=enabled, stream=stream, desc="step", mininterval=0)
        assert list(bar) == [0, 1, 2]  # a silent bar still iterates
        bar.close()
    text = stream.getvalue()
    assert ("step" in text and "3/3" in text) is shown
    assert text == "" or shown


def test_default_stream_is_the_current_stderr(monkeypatch):
    monkeypatch.setattr(sys, "stderr", FakeTerminal())
    assert show_progress() is True
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert show_progress() is False


def test_quiet_restores_the_previous_setting():
    assert not is_quiet()
    with quiet():
        assert is_quiet()
        with quiet(False):
            assert not is_quiet()
        assert is_quiet()
    assert not is_quiet()
    with pytest.raises(RuntimeError), quiet():
        raise RuntimeError("boom")
    assert not progress.is_quiet()


def test_a_stream_without_isatty_is_not_a_terminal():
    class Sink:
        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    assert show_progress(None, Sink()) is False
