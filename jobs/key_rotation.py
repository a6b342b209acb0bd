"""Scheduled KEK rotation with rewrap (off unless PRIVACY_KEY_ROTATION_SCHEDULE is set).

Resumable: a run killed mid-rewrap leaves DEKs under both versions, all readable; the next
run (or `privacy keys rotate --resume`) rewraps what is left before raising
min_decryption_version.
"""

from __future__ import annotations

from typing import Any

from privacy.keys import rotation
from privacy.runtime import Runtime
from privacy.scheduling.models import JobRun


def run(rt: Runtime, run: JobRun) -> dict[str, Any]:
    before = rotation.status(rt)
    # A previous run that died part-way is finished first instead of rotating again.
    st = rotation.finish(rt) if before.pending else rotation.rotate(rt)
    return {
        "latest_version": st.latest_version,
        "min_decryption_version": st.min_decryption_version,
        "rewrapped": st.subjects_on_latest,
        "pending": st.pending,
    }
