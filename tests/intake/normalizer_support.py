"""What the normalizer tests share: the sample payloads (written from the vendors' documented
formats, under samples/) and the errors a refused payload gives."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intake.normalizers import NormalizeError

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def refused_by(normalize: Callable[[Any], Any]) -> Callable[[object], dict[str, list[str]]]:
    """``refused(payload)`` for one normalizer: the field messages it raises with."""

    def refused(payload: object) -> dict[str, list[str]]:
        with pytest.raises(NormalizeError) as caught:
            normalize(payload)
        return caught.value.errors

    return refused
