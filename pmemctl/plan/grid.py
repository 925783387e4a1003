"""A table renderer that costs one pass over its cells, for plans of thousands of rows.

rich's :class:`~rich.table.Table` measures and wraps every cell through its
layout engine; for the 2,000 changes of a 1,000-VM plan that was most of
``plan``'s time (the table took twice as long as ``--output json``). A plan's
cells are short, plain strings, so this grid does the little layout they
need: natural column widths, the widest columns folded (at word boundaries,
long words cut) until the table fits the console, and the look of the small
plans' ``box.SIMPLE_HEAD`` tables: a bold header, a rule under it, three
spaces between columns, a blank line between sections. Lines carry no
trailing spaces, so piped output diffs cleanly.

:class:`Grid` mirrors the part of Table's API the plan renderer uses
(``add_row(..., end_section=)``), so either can be printed with ``console.print``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style

GAP = "   "  # what SIMPLE_HEAD with padding (0, 1) and pad_edge=False puts between columns
MIN_WIDTH = 4  # narrower than this, a folded cell is more line breaks than text


class Grid:
    """Rows of plain-string cells under ``headers``, printable with ``console.print``."""

    def __init__(self, *headers: str, header_style: str = "bold") -> None:
        self.headers = headers
        self.header_style = header_style
        self._rows: list[tuple[str, ...]] = []
        self._breaks: set[int] = set()  # row indexes followed by a blank line

    def add_row(self, *cells: str, end_section: bool = False) -> None:
        """Add a row (one cell per header); ``end_section`` puts a blank line after it."""
        if len(cells) != len(self.headers):
            raise ValueError(f"a row of {len(cells)} cells under {len(self.headers)} headers")
        self._rows.append(cells)
        if end_section:
            self._breaks.add(len(self._rows) - 1)

    @property
    def row_count(self) -> int:
        """How many rows (sections' blank lines not counted)."""
        return len(self._rows)

    def lines(self, width: int) -> tuple[str, str, list[str]]:
        """The header line, the rule, and the body lines, fitted to ``width`` cells."""
        widths = fit_widths(self._natural_widths(), width, len(GAP))
        header = _join(_wrap_row(self.headers, widths), widths)
        rule = "─" * min(width, sum(widths) + len(GAP) * (len(widths) - 1))
        body: list[str] = []
        last = len(self._rows) - 1
        for i, row in enumerate(self._rows):
            body.extend(_join(_wrap_row(row, widths), widths))
            if i in self._breaks and i != last:
                body.append("")
        return "\n".join(header), rule, body

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        """Render as plain lines: one Segment per line, styles on the header only."""
        header, rule, body = self.lines(options.max_width)
        yield Segment(header, console.get_style(self.header_style))
        yield Segment.line()
        yield Segment(rule, Style(dim=True) if not console.no_color else None)
        yield Segment.line()
        for line in body:
            yield Segment(line)
            yield Segment.line()

    def _natural_widths(self) -> list[int]:
        widths = [cell_len(h) for h in self.headers]
        for row in self._rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], cell_len(cell))
        return widths


def fit_widths(natural: list[int], width: int, gap: int) -> list[int]:
    """Column widths that fit ``width``: the widest columns give way first, to :data:`MIN_WIDTH`.

    Narrow columns (a marker, an action name) keep their width; the wide
    ones (names, before → after, reasons) fold. When even that doesn't fit,
    the lines are simply longer than ``width`` and the terminal wraps them:
    nothing is ever cut.
    """
    widths = list(natural)
    excess = sum(widths) + gap * (len(widths) - 1) - width
    while excess > 0:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_WIDTH:
            break
        second = max((w for i, w in enumerate(widths) if i != widest), default=0)
        # Down to the next widest column in one step (not one cell at a time),
        # floored where the excess is gone.
        step = min(excess, max(1, widths[widest] - max(second, MIN_WIDTH)))
        widths[widest] -= step
        excess -= step
    return widths


def _wrap_row(cells: Iterable[str], widths: list[int]) -> list[list[str]]:
    return [_wrap(cell, w) for cell, w in zip(cells, widths, strict=True)]


def _wrap(cell: str, width: int) -> list[str]:
    """``cell`` in lines of at most ``width`` cells: at spaces, and a word longer
    than a line starts its own line and is cut there (a name is never dropped)."""
    if cell_len(cell) <= width:
        return [cell]
    lines: list[str] = []
    line = ""
    for word in cell.split(" "):
        if line and cell_len(line) + 1 + cell_len(word) <= width:
            line += " " + word
            continue
        if line:
            lines.append(line)
        rest = word
        while cell_len(rest) > width:
            lines.append(rest[:width])
            rest = rest[width:]
        line = rest
    lines.append(line)
    return lines


def _join(cells: list[list[str]], widths: list[int]) -> list[str]:
    """Cells (each a list of lines) side by side in columns of ``widths``, no trailing spaces."""
    height = max(len(c) for c in cells)
    out: list[str] = []
    for n in range(height):
        parts = []
        for c, w in zip(cells, widths, strict=True):
            s = c[n] if n < len(c) else ""
            parts.append(s + " " * (w - cell_len(s)))
        out.append(GAP.join(parts).rstrip())
    return out
