"""Escaping every user string (suite, method, dataset, metric names, notes, errors) for each output format, so that a
name such as ``x\\n\\input{/etc/passwd}`` or ``<script>`` prints as text everywhere."""

from __future__ import annotations

import html
import re
import unicodedata

_WS = re.compile(r"\s+")


def one_line(s: object) -> str:
    """Newlines, tabs and other whitespace runs → one space (a newline would end a LaTeX comment or a table row)."""
    return _WS.sub(" ", str(s)).strip()


# ----------------------------------------------------------------------------------------------------------------- tex

_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "<": r"\textless{}", ">": r"\textgreater{}",
        "|": r"\textbar{}", '"': "''", "±": r"$\pm$", "†": r"$^\dagger$", "—": "---", "–": "--", "·": r"$\cdot$",
        "↑": r"$\uparrow$", "↓": r"$\downarrow$", "→": r"$\rightarrow$", "×": r"$\times$", "≥": r"$\geq$",
        "≤": r"$\leq$", "²": r"$^2$", "³": r"$^3$", "≈": r"$\approx$", "−": "-", "…": r"\dots{}", "’": "'",
        "‘": "`", "“": "``", "”": "''", "ł": r"\l{}", "Ł": r"\L{}", "ø": r"\o{}", "Ø": r"\O{}", "ß": r"\ss{}",
        "°": r"$^\circ$", "µ": r"$\mu$", "φ": r"$\varphi$", "ρ": r"$\rho$"}  # fmt: skip


def _ascii(ch: str) -> str:
    """A character LaTeX's default fonts may lack → its accent-free letter (é → e), or '?'."""
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return base if base.isascii() and base.isprintable() else "?"


def tex(s: object) -> str:
    """Text-mode LaTeX: specials escaped, whitespace on one line, characters outside the default fonts replaced."""
    out = []
    for ch in one_line(s):
        if ch in _TEX:
            out.append(_TEX[ch])
        elif ch.isascii():
            out.append(ch if ch.isprintable() else " ")
        else:
            out.append(_ascii(ch))
    return "".join(out)


# ------------------------------------------------------------------------------------------------------ markdown/html

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md(s: object) -> str:
    """Markdown (GitHub flavour) inline text: HTML specials as entities (raw HTML is live in Markdown), markdown
    specials backslash-escaped, one line (a newline would end a table row)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(one_line(s), quote=False))


def htm(s: object) -> str:
    """HTML text or attribute value."""
    return html.escape(str(s), quote=True)
