"""Offline PII detectors: a candidate pattern per entity type, a validator, then one overlap rule.

Invariants:
- `detect` returns non-overlapping entities sorted by start, with `text[start:end] == value`. On
  overlap the type listed first in `ENTITY_TYPES` wins (secrets, e-mails and checksummed numbers
  before phone numbers), then the longer span, then the earlier one.
- Nothing here touches the network or the disk, and every pattern is linear on hostile input: each
  repetition is bounded or stops at a character its successor cannot start with, and a
  start-of-token lookbehind keeps a failed match from being retried at every later offset.
- Phone numbers are the one costly check (`phonenumbers` parses in pure Python), so the matcher
  only sees small digit windows, at most `PHONE_WINDOW_BUDGET` of them per text: past that budget
  phone numbers go undetected (the other types never do), which bounds the cost of a pasted table.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import isbn as stdnum_isbn
from stdnum import luhn, numdb
from stdnum.us import ssn as stdnum_ssn

SECRET = "SECRET"  # noqa: S105 (an entity type name, not a password)
EMAIL = "EMAIL"
IBAN = "IBAN"
CARD_NUMBER = "CARD_NUMBER"
US_SSN = "US_SSN"
IP_ADDRESS = "IP_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
ENTITY_TYPES: tuple[str, ...] = (SECRET, EMAIL, IBAN, CARD_NUMBER, US_SSN, IP_ADDRESS, PHONE_NUMBER)
_PRIORITY = {entity_type: rank for rank, entity_type in enumerate(ENTITY_TYPES)}

# National formats are read for these regions; "+" numbers are read for every country.
PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN")
PHONE_WINDOW_BUDGET = 1000
_PHONE_MIN_DIGITS = 7
_PHONE_MAX_DIGITS = 15  # E.164
_PHONE_MAX_TOKEN = 24  # longer unbroken tokens (1.2.3.4.5…, hashes) are never phone numbers
_PHONE_MAX_WINDOW = 32
_BARRIER = _PHONE_MAX_DIGITS + 1  # the digit count of a token no window may include
_CARD_FIRST_DIGITS = frozenset("23456")  # Mastercard 2-series, Amex/JCB/Diners, Visa, Mastercard, Discover


@dataclass(frozen=True, slots=True)
class Entity:
    """One detected value; `value` is the exact text between `start` and `end`."""

    type: str
    start: int
    end: int
    value: str


def detect(text: str) -> list[Entity]:
    """Every entity in `text`, non-overlapping and sorted by start."""
    strong = _resolve([*_secrets(text), *_emails(text), *_ibans(text), *_cards(text), *_ssns(text), *_ips(text)])
    return _resolve([*strong, *_phones(text, taken=strong)])


def _entity(entity_type: str, text: str, start: int, end: int) -> Entity:
    return Entity(type=entity_type, start=start, end=end, value=text[start:end])


def _resolve(candidates: Iterable[Entity]) -> list[Entity]:
    """Keep the best entity of each overlapping group (type priority, then length, then position)."""
    ranked = sorted(candidates, key=lambda e: (_PRIORITY[e.type], e.start - e.end, e.start))
    starts: list[int] = []
    kept: list[Entity] = []
    for entity in ranked:
        index = bisect.bisect_right(starts, entity.start)
        if index and kept[index - 1].end > entity.start:
            continue
        if index < len(kept) and kept[index].start < entity.end:
            continue
        starts.insert(index, entity.start)
        kept.insert(index, entity)
    return kept


# --- e-mail --------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]{1,64})@"
    r"((?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,63})(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
)


def _emails(text: str) -> Iterator[Entity]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        local, domain = match.group(1), match.group(2)
        stripped = local.lstrip(".")  # "see:..jane@x.org" starts at "jane"
        if not stripped or stripped.endswith(".") or ".." in stripped:
            continue
        if any(label.startswith("-") or label.endswith("-") for label in domain.split(".")):
            continue
        yield _entity(EMAIL, text, match.start() + len(local) - len(stripped), match.end())


# --- card numbers, IBANs, SSNs --------------------------------------------------------------------

_CARD = re.compile(r"(?<![\w+.])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![ -]?\d|\w|[.,]\d)")
_IBAN_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])")


def _cards(text: str) -> Iterator[Entity]:
    iban_shapes: list[tuple[int, int]] | None = None
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if digits[0] not in _CARD_FIRST_DIGITS or not luhn.is_valid(digits):
            continue
        if iban_shapes is None:  # a tenth of IBAN tails pass Luhn: inside an IBAN-shaped string they are not cards
            iban_shapes = _merge([m.span() for m in _IBAN_SHAPE.finditer(text)])
        if not _overlaps(iban_shapes, match.start(), match.end()):
            yield _entity(CARD_NUMBER, text, match.start(), match.end())


# Zero-width so that a rejected candidate does not hide an IBAN that starts inside it.
_IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])(?=([A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}))")
_IBAN_REGISTRY = numdb.get("iban")


def _ibans(text: str) -> Iterator[Entity]:
    covered_until = 0
    for match in _IBAN_CANDIDATE.finditer(text):
        start, candidate = match.start(), match.group(1)
        length = _iban_length(candidate[:2])
        if start < covered_until or length is None:
            continue
        ends = [start + offset + 1 for offset, char in enumerate(candidate) if char != " "]
        # The country fixes the length, so "…0130 00 BIC COBADEFF" stops before "BIC"; one check per start.
        end = ends[length - 1] if len(ends) >= length else None
        if end is None or (end < len(text) and text[end].isalnum()):
            continue
        if stdnum_iban.is_valid(text[start:end]):
            covered_until = end
            yield _entity(IBAN, text, start, end)


@functools.cache
def _iban_length(country: str) -> int | None:
    """Length of the country's IBAN from the registry python-stdnum ships; None for a non-IBAN country."""
    structure = _IBAN_REGISTRY.info(country)[0][1].get("bban")
    return 4 + sum(int(size) for size in re.findall(r"(\d+)!", structure)) if structure else None


_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")


_SPACED_DIGIT_BEFORE = re.compile(r"\d \Z")
_SPACED_DIGIT_AFTER = re.compile(r" \d")


def _ssns(text: str) -> Iterator[Entity]:
    for match in _SSN.finditer(text):
        area, separator, group, serial = match.groups()
        start, end = match.span()
        if separator == " " and (
            _SPACED_DIGIT_BEFORE.search(text, max(0, start - 2), start) or _SPACED_DIGIT_AFTER.match(text, end)
        ):
            continue  # a slice of a longer space-separated number
        if stdnum_ssn.is_valid(f"{area}-{group}-{serial}"):
            yield _entity(US_SSN, text, start, end)


# --- IP addresses -------------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{2,45}")
_HEX = re.compile(r"[0-9A-Fa-f]")


def _ips(text: str) -> Iterator[Entity]:
    for match in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(match.group())  # octets 0-255, no leading zeros
        except ValueError:
            continue
        yield _entity(IP_ADDRESS, text, match.start(), match.end())
    if ":" not in text:
        return
    for match in _IPV6.finditer(text):
        candidate = match.group().rstrip(".")  # a full stop; a lone trailing ":" is punctuation, "::" is not
        candidate = candidate[:-1] if candidate.endswith(":") and not candidate.endswith("::") else candidate
        end = match.start() + len(candidate)
        if (end < len(text) and (text[end].isalnum() or text[end] == "_")) or not _HEX.search(candidate):
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield _entity(IP_ADDRESS, text, match.start(), end)


# --- secrets --------------------------------------------------------------------------------------

_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sk-", re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}")),  # OpenAI, incl. sk-proj-
    ("A", re.compile(r"(?<![A-Za-z0-9])A(?:KI|SI)A[0-9A-Z]{16}(?![A-Za-z0-9])")),  # AWS access key id
    ("gh", re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])")),
    ("github_pat_", re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}(?![A-Za-z0-9_])")),
    ("xox", re.compile(r"(?<![A-Za-z0-9-])xox[abprs]-[A-Za-z0-9-]{10,}")),  # Slack
    ("eyJ", re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),  # JWT
)
_NEEDS_DIGIT = frozenset({"sk-", "xox"})  # "sk-this-is-not-a-key-at-all" is prose, a real key has digits
_BEARER = re.compile(r"(?<![A-Za-z0-9])[Bb]earer[ \t]+([A-Za-z0-9._~+/-]{20,}=*)")
_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----")
_PEM_BODY = re.compile(r"(?:\r?\n[A-Za-z0-9+/=]+(?=\r?\n|\Z))*")  # whole base64 lines only


def _secrets(text: str) -> Iterator[Entity]:
    for marker, pattern in _SECRET_PATTERNS:
        if marker not in text:
            continue
        for match in pattern.finditer(text):
            if marker in _NEEDS_DIGIT and not any(char.isdigit() for char in match.group()):
                continue
            yield _entity(SECRET, text, match.start(), match.end())
    if "earer" in text:
        for match in _BEARER.finditer(text):
            token = match.group(1).rstrip(".")  # a sentence's full stop is not part of the token
            if len(token) >= 20:
                yield _entity(SECRET, text, match.start(1), match.start(1) + len(token))
    if "PRIVATE KEY-----" in text:
        yield from _pem_blocks(text)


def _pem_blocks(text: str) -> Iterator[Entity]:
    """Whole BEGIN…END blocks; a block cut short still hides its BEGIN line and base64 body."""
    position, end_seen = 0, True
    while begin := _PEM_BEGIN.search(text, position):
        end = _PEM_END.search(text, begin.end()) if end_seen else None
        if end is None:
            end_seen = False  # no END after here: later BEGINs need not search again (keeps it linear)
            stop = begin.end() + len(_PEM_BODY.match(text, begin.end()).group().rstrip())
        else:
            stop = end.end()
        yield _entity(SECRET, text, begin.start(), stop)
        position = stop


# --- phone numbers --------------------------------------------------------------------------------

# A run never starts inside a longer token: not after a letter, digit, sign or "#", nor after
# "4-" or "d-" (the middle of "fc3475ed-0210-4656-…" is not a number of its own), nor after
# "4 " unless a "+" says a new number starts there.
_PHONE_RUN = re.compile(r"(?<![\w+#$€£¥%])(?:\+|(?<!\d )(?<![A-Za-z0-9][.\-/])(?:\(\+?)?)\d[\d ().\-/]*")
_TOKEN = re.compile(r"\S+")
_DECIMAL = re.compile(r"\d+\.\d+")
# Number shapes that are not phone numbers even when a national numbering plan would accept them.
_NOT_PHONE_SHAPES: tuple[re.Pattern[str], ...] = (
    _CARD,  # 13-19 digits, whatever the Luhn digit says
    _IBAN_SHAPE,  # checksum right or wrong
    re.compile(r"(?<![\w.+-])1\d{9}(?![\w.])"),  # Unix time in seconds, which India's plan reads as a landline
    re.compile(r"(?<![\w-])\d{4}(?:[ -]\d{4}){3,}(?:[ -]\d{1,4})?(?![\w-])"),  # long groups of four: tracking, accounts
    re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])"),  # SSN, valid or not
    re.compile(r"(?<![\w.\-/])(?:\d{4}([-/.])\d{1,2}\1\d{1,2}|\d{1,2}([-/.])\d{1,2}\2\d{2,4})(?!\w|[.\-/]\d)"),  # date
)
_DOTTED = re.compile(r"(?<![\w.])\d+(?:\.\d+){3,}(?!\w)")  # IPs and versions; French 01.42.68.53.00 is kept
_ISBN = re.compile(r"(?<![\w-])(?:97[89]-)?\d{1,5}-\d{1,7}-\d{1,7}-[\dX](?![\w-])")  # 0-306-40615-2 reads as DE/FR


def _phones(text: str, *, taken: list[Entity]) -> list[Entity]:
    runs = list(_phone_runs(text))
    if not runs:
        return []
    blocked = _merge([(e.start, e.end) for e in taken] + _not_phone_spans(text))
    found: list[Entity] = []
    budget = [PHONE_WINDOW_BUDGET]
    for run in runs:
        # A phone number touching a blocked span would be dropped anyway, so its tokens bar windows.
        tokens = [(s, e, _BARRIER if _overlaps(blocked, s, e) else digits) for s, e, digits in run]
        index = 0
        while index < len(tokens) and budget[0] > 0:
            matches = _first_match(text, tokens, index, blocked=blocked, budget=budget)
            found.extend(matches)
            # After a match, resume at the first token past it; otherwise slide one token along, except
            # past a failed "+" number: the tail of "+91 22 8419 6407" is not a national number.
            if matches:
                resume = max(m.end for m in matches)
            elif text[tokens[index][0]] == "+":
                resume = tokens[_window(tokens, index)[0] - 1][1]
            else:
                resume = -1
            index = next((i for i in range(index + 1, len(tokens)) if tokens[i][0] >= resume), len(tokens))
    return found


def _first_match(
    text: str, tokens: list[tuple[int, int, int]], index: int, *, blocked: list[tuple[int, int]], budget: list[int]
) -> list[Entity]:
    """Phone numbers in the widest window starting at token `index` that has any, narrowing one token at a time.

    Narrowing matters because the matcher does not split "0161 496 0456 0161 496 0457" into two numbers.
    """
    stop, digits = _window(tokens, index)
    while stop > index and digits >= _PHONE_MIN_DIGITS and budget[0] > 0:
        start, end = tokens[index][0], tokens[stop - 1][1]
        budget[0] -= 1
        matches = [m for m in _match_window(text, start, end) if not _overlaps(blocked, m.start, m.end)]
        if matches:
            return matches
        stop, digits = stop - 1, digits - tokens[stop - 1][2]
    return []


def _not_phone_spans(text: str) -> list[tuple[int, int]]:
    spans = [match.span() for pattern in _NOT_PHONE_SHAPES for match in pattern.finditer(text)]
    for match in _DOTTED.finditer(text):
        if any(len(group) != 2 for group in match.group().split(".")):
            spans.append(match.span())
    spans += [match.span() for match in _ISBN.finditer(text) if stdnum_isbn.is_valid(match.group())]
    return spans


def _phone_runs(text: str) -> Iterator[list[tuple[int, int, int]]]:
    """Runs of digits and phone punctuation, as (start, end, digit count) whitespace-separated tokens.

    A token no phone number contains (a decimal such as 0.764, or anything longer than
    `_PHONE_MAX_TOKEN`) counts as `_BARRIER` digits, so no window reaches across it.
    """
    for run in _PHONE_RUN.finditer(text):
        body = run.group().rstrip(" ().-/")
        if sum(char.isdigit() for char in body) >= _PHONE_MIN_DIGITS:
            offset = run.start()
            yield [(offset + t.start(), offset + t.end(), _token_digits(t.group())) for t in _TOKEN.finditer(body)]


def _token_digits(token: str) -> int:
    if len(token) > _PHONE_MAX_TOKEN or _DECIMAL.fullmatch(token):
        return _BARRIER
    return sum(char.isdigit() for char in token)


def _window(tokens: list[tuple[int, int, int]], index: int) -> tuple[int, int]:
    """End index and digit count of the widest window from `index` that one phone number could fill."""
    first_start = tokens[index][0]
    stop, digits = index, 0
    while stop < len(tokens):
        _, end, count = tokens[stop]
        if digits + count > _PHONE_MAX_DIGITS or end - first_start > _PHONE_MAX_WINDOW:
            break
        digits, stop = digits + count, stop + 1
    return stop, digits


def _match_window(text: str, start: int, end: int) -> list[Entity]:
    candidate = text[start:end]
    # One character of context each side lets the matcher reject "abc415…" and "…0132%" itself.
    low, high = max(0, start - 1), min(len(text), end + 1)
    window = text[low:high]
    regions = ("ZZ",) if candidate[0] == "+" else PHONE_REGIONS  # "+" numbers read the same from anywhere
    matches = []
    for region in regions:
        if not _parses_as_valid(candidate, region):
            continue  # a plain parse is ~5x cheaper than a matcher, and the matcher needs it to pass anyway
        for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
            # "(+44 20 7946 0958)": the matcher keeps an opening parenthesis whose partner it left out.
            raw = match.raw_string
            unbalanced = raw.startswith("(") and raw.count("(") > raw.count(")")
            found_start, found_end = low + match.start + unbalanced, low + match.end
            if not _glued(text, found_start, found_end):
                matches.append(_entity(PHONE_NUMBER, text, found_start, found_end))
    return matches


def _glued(text: str, start: int, end: int) -> bool:
    """Whether digits touch the match: the matcher can pick "0210-4656" out of "90210-4656"."""
    return (start > 0 and text[start - 1].isdigit()) or (end < len(text) and text[end].isdigit())


def _parses_as_valid(candidate: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(candidate, region))
    except phonenumbers.NumberParseException:
        return False


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlaps(merged: list[tuple[int, int]], start: int, end: int) -> bool:
    index = bisect.bisect_right(merged, (start, float("inf")))
    if index and merged[index - 1][1] > start:
        return True
    return index < len(merged) and merged[index][0] < end
