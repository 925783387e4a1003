"""``pmemctl probe --record``: a scrubbed vcrpy cassette of the whole probe session.

The cassette loads in the replay tier as it is (same matchers, same
scrubbing: :mod:`pmemctl.vsphere.cassette`), so a user's recording can be
committed as a test. It never holds the password or a session cookie; with
``anonymize`` every host and datastore name, the vCenter host and the user
are replaced by aliases (``anon-host-1``, …), consistently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pmemctl.errors import UsageError

if TYPE_CHECKING:
    from pmemctl.vsphere.cassette import Anonymizer


@contextmanager
def recording(path: Path | None, anonymize: bool = False) -> Iterator[Anonymizer | None]:
    """Record every vCenter request made inside the block to ``path`` (overwritten).

    Yields the :class:`Anonymizer` to teach names to (None without
    ``anonymize``). With ``path`` None nothing is recorded.

    Raises:
        UsageError: vcrpy is not installed, or ``anonymize`` without a path.
    """
    if path is None:
        if anonymize:
            raise UsageError("--anonymize only applies to --record CASSETTE")
        yield None
        return
    try:
        from pmemctl.vsphere.cassette import Anonymizer, make_vcr
    except ImportError:
        raise UsageError("--record needs vcrpy: pip install 'pmemctl[record]'") from None
    anon = Anonymizer() if anonymize else None
    target = path.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    # vcrpy appends to an existing cassette in record mode "all"; a probe
    # recording is one session, so start from an empty file.
    target.unlink(missing_ok=True)
    with make_vcr("all", anonymizer=anon).use_cassette(str(target)):
        yield anon
