"""Probes from the wider literature, registered by name (``audit probe NAME``).

- ``token-ban``: single-token-ban collapse and two-pass recovery.
- ``length-probe``: does the last prompt token's hidden state predict the answer's length?
- ``sustain``: SustainScore, accuracy kept when a self-evident constraint is stated.
- ``over-refusal``: XSTest-style refusal rates, and a yes/no negative-bias check.

Importing this package registers them; heavy libraries load only when a probe runs.
"""

from surf_search.probes import length_probe, over_refusal, sustain, token_ban  # noqa: F401
from surf_search.probes.registry import (
    SUMMARY_ITEM,
    Probe,
    ProbeContext,
    ProbeError,
    ProbeOptions,
    ProbeOutcome,
    ProbeRow,
    get_probe,
    probe,
    probe_names,
)

__all__ = [
    "SUMMARY_ITEM",
    "Probe",
    "ProbeContext",
    "ProbeError",
    "ProbeOptions",
    "ProbeOutcome",
    "ProbeRow",
    "get_probe",
    "probe",
    "probe_names",
]
