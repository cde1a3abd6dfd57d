"""Text analysis shared by papers and queries: the one place that decides what a "word" is.

The rules, applied in this order to titles, abstracts, organisations, author names and to the
words of a query alike:

1. Unicode NFKC (so "ﬁne-tuning" with a ligature is "fine-tuning", full-width "ＬＬＭ" is "LLM").
2. Case folding (``str.casefold``: "Straße" and "STRASSE" meet as "strasse").
3. Accent folding: decompose (NFD) and drop the combining diacritical marks (the Unicode blocks
   U+0300–036F, 1AB0–1AFF, 1DC0–1DFF, 20D0–20FF, FE20–FE2F), so "Pérez" and "perez", "naïve" and
   "naive" match. A few Latin letters that do not decompose are folded by hand: ø→o, ł→l, đ/ð→d,
   ħ→h, ı→i, æ→ae, œ→oe, þ→th ("Łukasz" is "lukasz"). Other combining marks (the vowel signs of
   Indic scripts, Arabic and Hebrew points) are part of their word, not accents, and are kept.
4. A word is a maximal run of letters and digits (plus the combining marks kept in rule 3).
   Everything else separates words, hyphens, dots and apostrophes included: "in-context" is the
   two words "in context", "GPT-4o" is "gpt 4o", "Qwen2.5" is "qwen2 5", "LoRA" is "lora",
   "3D" is "3d", "don't" is "don t". Words keep their positions, so a query word that analyses
   into several words ("in-context", "GPT-4o") is matched as a phrase: "in-context" finds
   "in-context", "In-Context" and "in context" but not "context in"; "gpt4o" (one word) does not
   find "GPT-4o" (two words).
5. Underscores separate words too ("snake_case" is "snake case").

A query word ending in ``*`` is a prefix of a word after the same folding ("Pér*" is "per*").

Speed matters here (every paper is analysed once per ingest): pure-ASCII text, the common case,
takes a fast path (``str.lower`` is casefold, and NFKC and accent folding change nothing).
"""

from __future__ import annotations

import re
import unicodedata

# Diacritics only: Indic vowel signs are combining marks too, but dropping them breaks words.
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_LETTERS_BY_HAND = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"}
)
# Every ASCII character that is not a letter or digit becomes a space; then str.split.
_ASCII_SEPARATORS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


def _mark_ranges() -> str:
    """A regex character class body for the combining marks that belong inside words."""
    blocks = ((0x0300, 0x2000), (0xA800, 0xAC00), (0x10A00, 0x12000))
    marks = [
        c
        for lo, hi in blocks
        for c in range(lo, hi)
        if unicodedata.category(chr(c)) in ("Mc", "Mn")
    ]
    ranges: list[list[int]] = []
    for c in marks:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "".join(f"{chr(lo)}-{chr(hi)}" if hi > lo else chr(lo) for lo, hi in ranges)


_WORD = re.compile(f"[^\\W_](?:[^\\W_]|[{_mark_ranges()}])*")


def fold(text: str) -> str:
    """NFKC, case folding and accent folding; what is left is compared character by character."""
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_LETTERS_BY_HAND)
    stripped = _DIACRITICS.sub("", unicodedata.normalize("NFD", folded))
    # Recompose what NFD split apart without being an accent (Hangul syllables, for one).
    return unicodedata.normalize("NFC", stripped)


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order; a word's index is its position."""
    if text.isascii():  # translate + split: a third faster than the regex below
        return text.lower().translate(_ASCII_SEPARATORS).split()
    return _WORD.findall(fold(text))


def is_word_char(char: str) -> bool:
    """Whether ``char`` can be part of a word (used to tell ``foo*`` from ``foo-*``)."""
    return bool(_WORD.fullmatch(fold(char)))
