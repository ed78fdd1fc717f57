"""Synthetic values for the PII evaluation set: each returns (entity type or None, text).

Invariants: only synthetic data (reserved example domains, fictional phone ranges where the
country has one, test-style card numbers with a computed Luhn digit, IBANs with computed mod-97
check digits); a hard negative (type None) is broken by construction, never by chance; every
function draws only from the `random.Random` it is given, so a seed fixes the output. The
checksums are computed here, not with the detectors' libraries, so the set does not inherit
their bugs.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

Value = tuple[str | None, str]

FIRST = ["alice", "bruno", "chiara", "dmitri", "emeka", "fatima", "goran", "hana", "ines", "jonas", "kenji", "lena"]
FIRST += ["mateo", "nadia", "omar", "priya", "quentin", "rosa", "sven", "tariq", "uma", "viktor", "yusuf", "zoe"]
LAST = ["abbott", "brandt", "castillo", "dubois", "eriksen", "fischer", "garcia", "haddad", "ivanova", "jensen"]
LAST += ["kowalski", "laurent", "moreau", "nakamura", "okafor", "petrov", "quinn", "rossi", "schmidt", "tanaka"]
LAST += ["ueda", "varga", "weber", "xu", "yilmaz", "zimmermann"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "eu.example.org", "acme.example"]
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"


def name(rng: random.Random) -> Value:
    return None, f"{rng.choice(FIRST).title()} {rng.choice(LAST).title()}"


def email(rng: random.Random) -> Value:
    first, last, domain = rng.choice(FIRST), rng.choice(LAST), rng.choice(DOMAINS)
    local = rng.choice(
        [
            f"{first}.{last}",
            f"{first[0]}{last}",
            f"{first}_{last}{rng.randint(1, 99)}",
            f"{first}+{rng.choice(['news', 'billing', 'test'])}",
            f"{first.title()}.{last.title()}",
            f"{last}-{first}",
        ]
    )
    return "EMAIL", f"{local}@{domain}"


def phone(rng: random.Random) -> Value:
    n = rng.randint
    us = f"{rng.choice(['201', '212', '305', '312', '415', '503', '617', '702'])}"
    forms = [
        f"({us}) 555-01{n(0, 99):02d}",
        f"{us}-555-01{n(0, 99):02d}",
        f"{us}.555.01{n(0, 99):02d}",
        f"+1 {us} 555 01{n(0, 99):02d}",
        f"+1-{us}-555-01{n(0, 99):02d}",
        f"020 7946 0{n(0, 999):03d}",
        f"+44 20 7946 0{n(0, 999):03d}",
        f"0161 496 0{n(0, 999):03d}",
        f"+44 113 496 0{n(0, 999):03d}",
        f"030 {n(2, 9)}{n(0, 9999999):07d}",
        f"+49 30 {n(2, 9)}{n(0, 9999999):07d}",
        f"+49 151 {n(10000000, 99999999)}",
        f"01 99 00 {n(0, 99):02d} {n(0, 99):02d}",
        f"+33 1 99 00 {n(0, 99):02d} {n(0, 99):02d}",
        f"09.74.78.{n(0, 99):02d}.{n(0, 99):02d}",
        f"+91 {n(7, 9)}{n(0, 9999):04d} {n(0, 99999):05d}",
        f"+91 22 {n(2000, 7999)} {n(0, 9999):04d}",  # Mumbai; 8xxx is not allocated
        f"+1 ({us}) 555-01{n(0, 99):02d}",
        f"1-800-555-01{n(0, 99):02d}",
        f"{us} 555 01{n(0, 99):02d}",
        f"{us}55501{n(0, 99):02d}",
        f"+44 (0)20 7946 0{n(0, 999):03d}",
        f"+442079460{n(0, 999):03d}",
        f"+49 (0)30 {n(2, 9)}{n(0, 9999999):07d}",
        f"030/{n(2, 9)}{n(0, 9999999):07d}",
        f"+33 (0)1 99 00 {n(0, 99):02d} {n(0, 99):02d}",
        f"+91 {n(7, 9)}{n(0, 9999):04d}-{n(0, 99999):05d}",
    ]
    return "PHONE_NUMBER", rng.choice(forms)


def _luhn_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char) * (2 if index % 2 == 0 else 1)  # the digit left of the check digit is doubled
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


_CARD_PREFIXES = [("4", 16), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15)]
_CARD_PREFIXES += [("6011", 16), ("65", 16), ("3528", 16), ("36", 14)]
_GROUPS = {13: (4, 4, 5), 14: (4, 6, 4), 15: (4, 6, 5), 16: (4, 4, 4, 4), 19: (4, 4, 4, 4, 3)}


def _card_digits(rng: random.Random) -> str:
    prefix, length = rng.choice(_CARD_PREFIXES)
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + _luhn_digit(body)


def _group(rng: random.Random, digits: str) -> str:
    separator = rng.choice(["", " ", "-"])
    parts, position = [], 0
    for size in _GROUPS[len(digits)]:
        parts.append(digits[position : position + size])
        position += size
    return separator.join(parts)


def card(rng: random.Random) -> Value:
    return "CARD_NUMBER", _group(rng, _card_digits(rng))


def bad_card(rng: random.Random) -> Value:
    digits = _card_digits(rng)
    broken = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 9)) % 10)  # Luhn catches every single-digit change
    return None, _group(rng, broken)


# BBAN structure per country, as (length, n=digits | a=letters) blocks; none of these has a national check digit.
_IBAN_BBAN: dict[str, tuple[tuple[int, str], ...]] = {
    "AT": ((5, "n"), (11, "n")),
    "CH": ((5, "n"), (12, "n")),
    "DE": ((8, "n"), (10, "n")),
    "FR": ((5, "n"), (5, "n"), (11, "n"), (2, "n")),
    "GB": ((4, "a"), (6, "n"), (8, "n")),
    "IE": ((4, "a"), (6, "n"), (8, "n")),
    "IT": ((1, "a"), (5, "n"), (5, "n"), (12, "n")),
    "NL": ((4, "a"), (10, "n")),
    "PL": ((8, "n"), (16, "n")),
}


def _iban_check(country: str, bban: str) -> int:
    rearranged = bban + country + "00"
    return 98 - int("".join(str(int(char, 36)) for char in rearranged)) % 97


def _iban_parts(rng: random.Random) -> tuple[str, int, str]:
    country = rng.choice(sorted(_IBAN_BBAN))
    bban = ""
    for size, kind in _IBAN_BBAN[country]:
        bban += _random(rng, string.ascii_uppercase if kind == "a" else string.digits, size)
    return country, _iban_check(country, bban), bban


def _iban_text(rng: random.Random, compact: str) -> str:
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def iban(rng: random.Random) -> Value:
    country, check, bban = _iban_parts(rng)
    return "IBAN", _iban_text(rng, f"{country}{check:02d}{bban}")


def bad_iban(rng: random.Random) -> Value:
    country, check, bban = _iban_parts(rng)
    wrong = (check + rng.randint(1, 95)) % 97 or 1  # any other value below 97 fails mod-97
    return None, _iban_text(rng, f"{country}{wrong:02d}{bban}")


def ipv4(rng: random.Random) -> Value:
    n = rng.randint
    forms = [f"10.{n(0, 255)}.{n(0, 255)}.{n(1, 254)}", f"192.168.{n(0, 255)}.{n(1, 254)}", f"203.0.113.{n(1, 254)}"]
    forms += [
        f"172.{n(16, 31)}.{n(0, 255)}.{n(1, 254)}",
        f"198.51.100.{n(1, 254)}",
        f"{n(1, 223)}.{n(0, 255)}.{n(0, 255)}.{n(0, 255)}",
    ]
    return "IP_ADDRESS", rng.choice(forms)


def ipv6(rng: random.Random) -> Value:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    forms = [
        "2001:db8::" + ":".join(groups[:2]),
        "2001:db8:" + ":".join(groups[:6]),
        "fe80::" + ":".join(groups[:4]),
        ":".join(groups),
        "::ffff:192.0.2." + str(rng.randint(1, 254)),
        "2001:db8:" + groups[0] + "::" + groups[1],
    ]
    return "IP_ADDRESS", rng.choice(forms)


def ssn(rng: random.Random) -> Value:
    while True:
        area = rng.choice([a for a in range(1, 900) if a != 666])
        value = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        if value not in {"078-05-1120", "457-55-5462", "219-09-9999"}:  # numbers the SSA voided
            return "US_SSN", value.replace("-", " ") if rng.random() < 0.2 else value


def bad_ssn(rng: random.Random) -> Value:
    area, group, serial = f"{rng.randint(1, 665):03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"
    broken = rng.choice(["area0", "area666", "area9", "group", "serial"])
    area = {"area0": "000", "area666": "666", "area9": f"9{rng.randint(0, 99):02d}"}.get(broken, area)
    group, serial = ("00" if broken == "group" else group), ("0000" if broken == "serial" else serial)
    return None, f"{area}-{group}-{serial}"


def _random(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def secret(rng: random.Random) -> Value:
    kind = rng.choice(["openai", "project", "aws", "github", "pat", "slack", "jwt", "pem"])
    digit = rng.choice(string.digits)
    if kind == "openai":
        return "SECRET", "sk-" + _random(rng, ALNUM, 47) + digit
    if kind == "project":
        return "SECRET", "sk-proj-" + _random(rng, B64URL, 60) + digit + _random(rng, ALNUM, 3)
    if kind == "aws":
        return "SECRET", "AKIA" + _random(rng, string.ascii_uppercase + string.digits, 15) + digit
    if kind == "github":
        return "SECRET", rng.choice(["ghp_", "gho_"]) + _random(rng, ALNUM, 35) + digit
    if kind == "pat":
        return "SECRET", "github_pat_" + _random(rng, ALNUM, 22) + "_" + _random(rng, ALNUM, 59)
    if kind == "slack":
        return (
            "SECRET",
            f"xox{rng.choice('bp')}-{rng.randint(10**10, 10**11)}-{rng.randint(10**12, 10**13)}-"
            + _random(rng, ALNUM, 24),
        )
    if kind == "jwt":
        return "SECRET", jwt(rng)
    return "SECRET", pem(rng, "PRIVATE KEY", rng.choice(["", "RSA ", "EC ", "OPENSSH "]))


def jwt(rng: random.Random) -> str:
    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    payload = json.dumps({"sub": str(rng.randint(1, 10**9)), "name": name(rng)[1], "iat": 1700000000}).encode()
    return ".".join([_b64url(header), _b64url(payload), _b64url(rng.randbytes(32))])


def pem(rng: random.Random, label: str, qualifier: str = "") -> str:
    lines = [base64.b64encode(rng.randbytes(48)).decode() for _ in range(rng.randint(2, 5))]
    body = "\n".join([*lines, base64.b64encode(rng.randbytes(rng.randint(5, 40))).decode()])
    return f"-----BEGIN {qualifier}{label}-----\n{body}\n-----END {qualifier}{label}-----"


def bearer(rng: random.Random) -> Value:
    token = jwt(rng) if rng.random() < 0.3 else _random(rng, ALNUM + "-._~", rng.randint(24, 48)) + rng.choice(ALNUM)
    return "SECRET", token


def negative(rng: random.Random) -> Value:
    """Text that looks like an entity but is not one (checksums fail, shapes are close but wrong)."""
    return rng.choice(NEGATIVES)(rng)


def version(rng: random.Random) -> Value:
    n = rng.randint
    return None, rng.choice(
        [f"{n(1, 9)}.{n(0, 9)}.{n(0, 9)}.{n(0, 9)}.{n(0, 9)}", f"v{n(1, 20)}.{n(0, 40)}.{n(0, 99)}"]
    )


def date(rng: random.Random) -> Value:
    y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return None, rng.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{d:02d}.{m:02d}.{y}", f"{m}/{d}/{y}"])


def order(rng: random.Random) -> Value:
    n = rng.randint
    return None, rng.choice(
        [f"ORD-{n(2019, 2030)}-{n(0, 99999):05d}", f"#{n(10000, 999999)}", f"INV-{n(0, 999999):06d}"]
    )


def price(rng: random.Random) -> Value:
    n = rng.randint
    return None, rng.choice(
        [f"${n(1, 99)},{n(0, 999):03d}.{n(0, 99):02d}", f"€{n(1, 999)}.{n(0, 99):02d}", f"{n(1, 99)}.5%"]
    )


def obfuscated_email(rng: random.Random) -> Value:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    forms = [f"{first} at example dot com", f"{first}[at]example[dot]org", f"@{first}_{last}", f"{first}@localhost"]
    return None, rng.choice([*forms, f"{first}@{last}", f"{first}@example.c"])


def bad_ip(rng: random.Random) -> Value:
    n = rng.randint
    mac = ":".join(f"{n(0, 255):02X}" for _ in range(6))
    return None, rng.choice(
        [f"{n(256, 999)}.{n(0, 255)}.{n(0, 255)}.{n(0, 255)}", mac, f"{n(0, 23):02d}:{n(0, 59):02d}:{n(0, 59):02d}"]
    )


def not_secret(rng: random.Random) -> Value:
    forms = ["sk-learn", "sk-" + _random(rng, string.ascii_lowercase, 8), "AKIA" + _random(rng, string.digits, 8)]
    forms += [
        "ghp_" + _random(rng, ALNUM, 10),
        "the bearer of the letter",
        pem(rng, "PUBLIC KEY"),
        pem(rng, "CERTIFICATE"),
    ]
    return None, rng.choice(forms)


def _isbn10(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(9)]
    check = sum((10 - index) * digit for index, digit in enumerate(digits)) * 10 % 11  # makes the weighted sum 0 mod 11
    text = "".join(map(str, digits)) + ("X" if check == 10 else str(check))
    return f"{text[0]}-{text[1:4]}-{text[4:9]}-{text[9]}"


def lookalike_number(rng: random.Random) -> Value:
    """Numbers people write that a loose phone or card reading could take: ids, codes, measurements."""
    n = rng.randint
    uuid = f"{rng.randbytes(4).hex()}-{n(0, 9999):04d}-4{n(0, 999):03d}-a{n(0, 999):03d}-{n(10**11, 10**12 - 1)}"
    forms = [uuid, f"ISBN 978-3-{n(10, 99)}-{n(100000, 999999)}-{n(0, 9)}", f"ISBN {_isbn10(rng)}", str(n(1950, 2030))]
    forms += [
        f"{n(1, 999)},{n(0, 999):03d},000",
        f"ZIP {n(10000, 99999)}-{n(0, 9999):04d}",
        f"EIN {n(10, 99)}-{n(1000000, 9999999)}",
    ]
    forms += [f"tracking 9400 {n(1000, 9999)} {n(1000, 9999)} {n(1000, 9999)} {n(1000, 9999)} {n(10, 99)}"]
    forms += [
        f"{n(-90, 90)}.{n(1000, 9999)}, {n(-180, 180)}.{n(1000, 9999)}",
        f"epoch {n(1_500_000_000, 1_800_000_000)}",
    ]
    forms += [
        f"{n(2000, 2012)}, {n(2013, 2024)} and {n(2025, 2030)}",
        f"pages {n(10, 200)}-{n(201, 400)}",
        f"order {n(10**6, 10**7 - 1)}",
    ]
    forms += [
        f"sort code {n(10, 99)}-{n(10, 99)}-{n(10, 99)}, account {n(10**7, 10**8 - 1)}",
        f"score {n(0, 9)}-{n(0, 9)}",
    ]
    return None, rng.choice(forms)


NEGATIVES: list[Callable[[random.Random], Value]] = [
    bad_card,
    bad_iban,
    bad_ssn,
    version,
    date,
    order,
    price,
    obfuscated_email,
    bad_ip,
    not_secret,
    lookalike_number,
]
