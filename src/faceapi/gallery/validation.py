"""What the gallery accepts as a person's name and as a descriptor (shared by the store and the import
formats, so that a name is checked the same way whichever door it comes in by)."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from faceapi.errors import GalleryError

DESCRIPTOR_SIZE = 128
#: The range real descriptors occupy. Measured on face-api.js's own outputs, the reference data of this
#: project (shared/reference/*/result.json and canvas-result.json: every 128-number "descriptor", 172 of them
#: from 74 outputs, photos and crops of the test images): components from -0.418 to 0.562, Euclidean norms
#: from 1.23 to 1.60. The bounds below leave about twice that (a descriptor of an unusual face is not
#: refused) and stop what is not a descriptor at all: +-3.4e38 (which overflowed the matcher's arithmetic
#: and failed every match), NaN, or vectors far from every face.
DESCRIPTOR_MAX_ABS = 1.0
DESCRIPTOR_NORM_RANGE = (0.5, 3.0)
MAX_NAME_LENGTH = 100
#: "unknown" is what the matcher calls a face that matches nobody.
RESERVED_NAMES = ("unknown",)

#: Characters that show nothing (Unicode's Default_Ignorable_Code_Point, DerivedCoreProperties.txt, plus the
#: Braille blank): a name with one looks like a name without it. Those of category Cf are refused by category
#: already; the rest (Hangul fillers, variation selectors, the combining grapheme joiner, ...) are listed here.
_INVISIBLE_RANGES = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x2800, 0x2800),
                     (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0x1D173, 0x1D17A),
                     (0xE0100, 0xE01EF))
#: Categories refused anywhere in a name: control, format (zero-width joiners, bidi overrides, soft hyphen),
#: line/paragraph separators, private use, unassigned, surrogates.
_REFUSED_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible formatting character",
                       "Zl": "a line separator", "Zp": "a paragraph separator", "Co": "a private-use character",
                       "Cn": "an unassigned code point", "Cs": "a lone surrogate"}
#: At most this many combining marks on one letter (after NFKC composition: Vietnamese needs 1, a few
#: scripts 2); more is stacked "zalgo" text that hides what is underneath.
_MAX_MARKS = 2
#: Scripts that are written together: a word mixing them is not a look-alike trick (UTS #39's "highly
#: restrictive" combinations: Japanese, Korean, Chinese with Bopomofo).
_SCRIPT_FAMILIES = ({"HAN", "HIRAGANA", "KATAKANA"}, {"HAN", "HANGUL"}, {"HAN", "BOPOMOFO"})
#: Rare phonetic and historic letters are not counted as the letter a look-alike imitates (Unicode lists
#: Greek omega as confusable with U+A7B7 LATIN SMALL LETTER OMEGA, which no name is written with).
_RARE_BLOCKS = ((0x1D00, 0x1DBF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF), (0xAB30, 0xAB6F), (0x10780, 0x107BF),
                (0x1DF00, 0x1DFFF))


_SPACES = re.compile(" {2,}")


def normalise_name(name: str) -> str:
    """The form a name is stored and shown in: NFKC (fullwidth letters, ligatures and the other compatibility
    forms become the ordinary ones, other spaces the plain one), runs of spaces as one, trimmed. Case is kept."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", name).strip())


def name_key(name: str) -> str:
    """The one equality rule for names: two names are the same person's when their keys are equal. The key is
    the normalised name (`normalise_name`) case-folded with Unicode's full case folding and NFKC again
    (Unicode's NFKC_Casefold), so ``Straße``/``STRASSE``, ``Émile``/``émile`` and ``Ωmega``/``ωmega`` are one
    name; the Turkic capital dotted I folds to ``i`` (CaseFolding.txt's mapping ``T`` for U+0130), so
    ``İstanbul``/``istanbul`` are one name too. The gallery's unique key, import's duplicate check and every
    lookup use this."""
    folded = unicodedata.normalize("NFKC", normalise_name(name).casefold())
    return folded.replace("i\u0307", "i")


def _invisible(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in _INVISIBLE_RANGES)


def _rare(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in _RARE_BLOCKS)


def _character_problem(clean: str) -> str | None:
    """What makes a normalised name unreadable or deceptive character by character, or None."""
    marks = 0
    for i, c in enumerate(clean):
        cat = unicodedata.category(c)
        what = _REFUSED_CATEGORIES.get(cat)
        if what is None and (_invisible(c) or (cat == "Zs" and c != " ")):
            what = "an invisible character"
        if what is None and cat in ("Mn", "Me") and unicodedata.combining(c) == 1:
            what = "an overlay mark (it strikes through the letters)"
        if what is not None:
            return f"contains {what} (U+{ord(c):04X} at position {i + 1}); type the name with visible letters only"
        if cat.startswith("M"):
            marks += 1
            if i == 0 or clean[i - 1] == " ":
                return f"starts a word with a combining mark (U+{ord(c):04X} at position {i + 1})"
            if marks > _MAX_MARKS:
                return f"stacks more than {_MAX_MARKS} combining marks on one letter (at position {i + 1})"
        else:
            marks = 0
    return None


def _look_alike(word: str) -> str | None:
    """A letter in `word` from another script than the word's own that looks like one of the word's own
    letters (Unicode's confusables, through confusable-homoglyphs): ``Аmy`` with a Cyrillic А. None when the
    word is in one script (or a family written together, as Japanese), or its foreign letters look like
    none of its own (``Ωmega``)."""
    from confusable_homoglyphs import categories, confusables

    letters = [(c, categories.alias(c)) for c in word if unicodedata.category(c).startswith("L")]
    scripts = [s for _, s in letters]
    kinds = set(scripts)
    if len(kinds) < 2 or any(kinds <= family for family in _SCRIPT_FAMILIES):
        return None
    main = max(kinds, key=lambda s: (scripts.count(s), -scripts.index(s)))
    for c, script in letters:
        if script == main:
            continue
        for glyph in confusables.confusables_data.get(c, []):
            target = glyph["c"]
            if len(target) == 1 and categories.alias(target) == main and not _rare(target):
                return (f"mixes scripts: {c!r} (U+{ord(c):04X}, {script.title()}) in {word!r} looks like the "
                        f"{main.title()} {target!r}; write the word in one script")
    return None


def check_name(name: object) -> str:
    """The name in its stored form (`normalise_name`); GalleryError saying why when it is empty, too long,
    has control, formatting or invisible characters, overlay or stacked marks, mixes scripts with look-alike
    letters, or is reserved."""
    if not isinstance(name, str):
        raise GalleryError(f"a person's name must be a string, got {type(name).__name__}")
    clean = normalise_name(name)
    if not clean:
        raise GalleryError("a person's name must not be empty")
    if len(clean) > MAX_NAME_LENGTH:
        raise GalleryError(f"name {clean[:20]!r}... is {len(clean)} characters long; at most {MAX_NAME_LENGTH}")
    problem = _character_problem(clean)
    if problem is None:
        for word in clean.split(" "):
            problem = _look_alike(word)
            if problem:
                break
    if problem is not None:
        raise GalleryError(f"name {clean!r} {problem}")
    if name_key(clean) in RESERVED_NAMES:
        raise GalleryError(f"{clean!r} is reserved: it is the label of faces that match nobody")
    return clean


def descriptor_problem(a: np.ndarray) -> str | None:
    """What makes `a` (a 128-vector of numbers) not a face descriptor, or None when it is one."""
    if not np.isfinite(a).all():
        return "contains NaN or infinite values"
    biggest = float(np.abs(a).max())
    if biggest > DESCRIPTOR_MAX_ABS:
        return (f"a value of {biggest:.3g} is outside the range face descriptors occupy "
                f"(-{DESCRIPTOR_MAX_ABS} to {DESCRIPTOR_MAX_ABS})")
    norm = float(np.linalg.norm(a))
    lo, hi = DESCRIPTOR_NORM_RANGE
    if not lo <= norm <= hi:
        return f"its length {norm:.3g} is outside the range face descriptors occupy ({lo} to {hi})"
    return None


def valid_rows(matrix: np.ndarray) -> np.ndarray:
    """A boolean mask of the rows of an ``(N, 128)`` matrix that are face descriptors (`descriptor_problem`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        m = np.asarray(matrix, dtype=np.float64)
        finite = np.isfinite(m).all(axis=1)
        small = np.abs(np.where(np.isfinite(m), m, np.inf)).max(axis=1, initial=0.0) <= DESCRIPTOR_MAX_ABS
        norms = np.linalg.norm(np.where(np.isfinite(m), m, 0.0), axis=1)
    lo, hi = DESCRIPTOR_NORM_RANGE
    mask: np.ndarray = finite & small & (norms >= lo) & (norms <= hi)
    return mask


def check_descriptor(vector: object, where: str = "descriptor") -> np.ndarray:
    """A face descriptor (128 finite numbers in the range real descriptors occupy) as float32, or GalleryError."""
    if isinstance(vector, np.ndarray):
        if vector.dtype.kind not in "fiu":
            raise GalleryError(f"{where}: not a list of numbers (an array of {vector.dtype})")
    elif not isinstance(vector, (list, tuple)) or not all(
            isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool) for x in vector):
        raise GalleryError(f"{where}: not a list of numbers")
    try:
        a = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise GalleryError(f"{where}: not a list of numbers ({exc})") from exc
    if a.shape != (DESCRIPTOR_SIZE,):
        raise GalleryError(f"{where}: expected {DESCRIPTOR_SIZE} numbers, got shape {a.shape}")
    problem = descriptor_problem(a)
    if problem is not None:
        raise GalleryError(f"{where}: not a face descriptor: {problem}")
    return a.astype(np.float32)
