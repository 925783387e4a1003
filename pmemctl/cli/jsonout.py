"""The one JSON encoder for everything the CLI prints as JSON.

Two shapes, the same options otherwise:

* :func:`document` — one JSON document (``status``, ``plan``, ``validate``,
  ``probe`` with ``-o json``): indented by 2, for people reading it and for
  ``jq``; one trailing newline.
* :func:`line` — one JSON Lines record (``apply``/``rollback -o json``
  events and summary): compact, no newline inside, one trailing newline.

Both keep key order (``to_json`` methods order keys for people; sorting
would scatter them) and write non-ASCII as UTF-8 (``ensure_ascii=False``),
so VM and datastore names stay readable. A lone surrogate (``"\\ud800"``
in a spec, or a file name decoded with ``surrogateescape``) cannot be
encoded as UTF-8 and would crash the write; it is written as its JSON
escape ``\\ud800`` instead, which any JSON parser reads back as the same
string. The result is therefore always valid JSON and always encodable as
UTF-8; :meth:`pmemctl.cli.app.App.emit_json` writes it as UTF-8 bytes, so
the locale's encoding never matters either.
"""

from __future__ import annotations

import json
import re

#: Separators for documents (after indent) and for JSON Lines.
_DOC_SEPARATORS = (",", ": ")
_LINE_SEPARATORS = (",", ":")

# Surrogates can only appear inside JSON strings (keys and values): every
# structural character is ASCII, so replacing them in the output is safe.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogates(text: str) -> str:
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def document(data: object) -> str:
    """``data`` as an indented JSON document with a trailing newline.

    Raises:
        TypeError: ``data`` holds something JSON cannot represent (a bug in the
            caller's ``to_json``, so it is not papered over with ``default=str``).
    """
    text = json.dumps(data, indent=2, separators=_DOC_SEPARATORS, ensure_ascii=False)
    return _escape_surrogates(text) + "\n"


def line(data: object) -> str:
    """``data`` as one compact JSON Lines record with a trailing newline.

    Raises:
        TypeError: as :func:`document`.
    """
    text = json.dumps(data, separators=_LINE_SEPARATORS, ensure_ascii=False)
    return _escape_surrogates(text) + "\n"
