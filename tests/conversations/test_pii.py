"""PII detectors, overlap rule, placeholders, restore (whole and streamed), scrub, and a backtracking guard."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from chatpresets.llm.pii import detectors
from chatpresets.llm.pii.detectors import Entity, detect
from chatpresets.llm.pii.redact import StreamRestorer, Vault, redact, restore, scrub

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx7Jd\nq9Zk2w==\n-----END RSA PRIVATE KEY-----"


def found(text: str) -> list[tuple[str, str]]:
    return [(entity.type, entity.value) for entity in detect(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail jane.doe@example.com today", ("EMAIL", "jane.doe@example.com")),
        ("cc: <Ana.Ruiz+billing@mail.example.org>", ("EMAIL", "Ana.Ruiz+billing@mail.example.org")),
        ("reach k_ueda81@acme.example.", ("EMAIL", "k_ueda81@acme.example")),
        ("call +44 20 7946 0958 now", ("PHONE_NUMBER", "+44 20 7946 0958")),
        ("call (415) 555-0132 now", ("PHONE_NUMBER", "(415) 555-0132")),
        ("the hotline (+1 (617) 555-0125) is open", ("PHONE_NUMBER", "+1 (617) 555-0125")),
        ("Berlin 030 23125123", ("PHONE_NUMBER", "030 23125123")),
        ("Paris 01.99.00.12.34", ("PHONE_NUMBER", "01.99.00.12.34")),
        ("Mumbai +91 98765 43210", ("PHONE_NUMBER", "+91 98765 43210")),
        ("card 4111 1111 1111 1111.", ("CARD_NUMBER", "4111 1111 1111 1111")),
        ("amex 3782-822463-10005", ("CARD_NUMBER", "3782-822463-10005")),
        ("compact 5555555555554444", ("CARD_NUMBER", "5555555555554444")),
        ("IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", ("IBAN", "DE89 3704 0044 0532 0130 00")),
        ("IBAN GB82WEST12345698765432.", ("IBAN", "GB82WEST12345698765432")),
        ("server 192.168.1.20:8080", ("IP_ADDRESS", "192.168.1.20")),
        ("host 2001:db8::8a2e:370:7334.", ("IP_ADDRESS", "2001:db8::8a2e:370:7334")),
        ("mapped ::ffff:192.0.2.128 here", ("IP_ADDRESS", "::ffff:192.0.2.128")),
        ("SSN 536-90-4399", ("US_SSN", "536-90-4399")),
        ("SSN 536 90 4399", ("US_SSN", "536 90 4399")),
        (
            "key sk-abcdefghijklmnopqrstuvwx1234567890ABCDEFGHIJ",
            ("SECRET", "sk-abcdefghijklmnopqrstuvwx1234567890ABCDEFGHIJ"),
        ),
        ("key sk-proj-Ab3_dE-fGhIjKlMnOpQrStUvWxYz012", ("SECRET", "sk-proj-Ab3_dE-fGhIjKlMnOpQrStUvWxYz012")),
        ("aws AKIAIOSFODNN7EXAMPLE", ("SECRET", "AKIAIOSFODNN7EXAMPLE")),
        ("gh ghp_" + "a1B2" * 9, ("SECRET", "ghp_" + "a1B2" * 9)),
        ("gh github_pat_" + "A1b2" * 6 + "_" + "x" * 30, ("SECRET", "github_pat_" + "A1b2" * 6 + "_" + "x" * 30)),
        ("slack xoxb-1234567890-abcdefABCDEF", ("SECRET", "xoxb-1234567890-abcdefABCDEF")),
        ("Authorization: Bearer abcDEF123456ghiJKL789.mno-pqr.", ("SECRET", "abcDEF123456ghiJKL789.mno-pqr")),
        (f"token {JWT} end", ("SECRET", JWT)),
        (f"key:\n{PEM}\nthanks", ("SECRET", PEM)),
    ],
)
def test_each_detector_finds_its_entity_with_exact_span(text, expected) -> None:
    assert found(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "user at example dot com, jane[at]example[dot]org, @jane_doe",
        "foo@bar, user@localhost, a@b.c, jane@example.c0m",
        "card 4111 1111 1111 1112 fails Luhn",
        "ISBN 978-3-16-148410-0 and 0-306-40615-2",
        "IBAN DE89 3704 0044 0532 0130 01 has a bad checksum",
        "version 1.2.3.4.5 and v2.10.3.1 and 256.1.1.1",
        "mac 00:1A:2B:3C:4D:5E at 12:30:45",
        "SSNs 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000",
        "on 2024-01-15, 15/03/2024 and 15.03.2024, in 2023",
        "order ORD-2024-58213, #4829103756, INV-000123, price $1,234.56",
        "tracking 9400 1000 0000 0000 0000 00, ZIP 94107-1234, epoch 1718035200",
        "id fc3475ed-0210-4656-a143-336960769160",
        "sk-learn, sk-this-is-not-a-key-at-all-really, the bearer of the letter",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----",
    ],
)
def test_lookalikes_are_not_entities(text) -> None:
    assert found(text) == []


def test_card_number_is_not_also_a_phone_number() -> None:
    assert found("4111-1111-1111-1111") == [("CARD_NUMBER", "4111-1111-1111-1111")]


def test_iban_digits_are_not_a_phone_number_even_with_a_bad_checksum() -> None:
    assert found("DE89 3704 0044 0532 0130 00") == [("IBAN", "DE89 3704 0044 0532 0130 00")]
    assert found("DE88 3704 0044 0532 0130 00") == []


def test_email_wins_over_the_digits_in_its_local_part() -> None:
    assert found("4111111111111111@example.com") == [("EMAIL", "4111111111111111@example.com")]


def test_ipv6_wins_over_the_ipv4_inside_it() -> None:
    assert found("::ffff:10.0.0.1") == [("IP_ADDRESS", "::ffff:10.0.0.1")]


def test_bearer_jwt_is_one_secret() -> None:
    assert found(f"Authorization: Bearer {JWT}") == [("SECRET", JWT)]


def test_truncated_private_key_still_hides_its_body() -> None:
    entities = detect("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n\nthen prose")
    assert [e.value for e in entities] == ["-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"]


def test_two_adjacent_phone_numbers_are_two_entities() -> None:
    assert found("0161 496 0456 0161 496 0457") == [
        ("PHONE_NUMBER", "0161 496 0456"),
        ("PHONE_NUMBER", "0161 496 0457"),
    ]


def test_entities_are_sorted_non_overlapping_and_match_the_text() -> None:
    text = f"a@example.com 4111 1111 1111 1111 +44 20 7946 0958 10.0.0.1 {JWT} DE89370400440532013000 536-90-4399"
    entities = detect(text)
    assert [e.type for e in entities] == [
        "EMAIL",
        "CARD_NUMBER",
        "PHONE_NUMBER",
        "IP_ADDRESS",
        "SECRET",
        "IBAN",
        "US_SSN",
    ]
    assert all(text[e.start : e.end] == e.value for e in entities)
    assert all(left.end <= right.start for left, right in itertools.pairwise(entities))


def test_resolve_prefers_priority_then_length() -> None:
    phone = Entity(type="PHONE_NUMBER", start=0, end=19, value="x" * 19)
    card = Entity(type="CARD_NUMBER", start=0, end=16, value="x" * 16)
    short, long = Entity("IP_ADDRESS", 5, 10, "x" * 5), Entity("IP_ADDRESS", 3, 12, "x" * 9)
    assert detectors._resolve([phone, card, short, long]) == [card]
    assert detectors._resolve([short, long]) == [long]


def test_phone_budget_bounds_the_work_and_leaves_other_types_alone(monkeypatch) -> None:
    monkeypatch.setattr(detectors, "PHONE_WINDOW_BUDGET", 2)
    text = "020 7946 0001, 020 7946 0002, 020 7946 0003, a@example.com"
    assert [t for t, _ in found(text)] == ["PHONE_NUMBER", "PHONE_NUMBER", "EMAIL"]


def test_redact_numbers_placeholders_per_type() -> None:
    result = redact("Mail a@example.com or b@example.com, call +44 20 7946 0958, again a@example.com")
    assert result.text == "Mail <EMAIL_1> or <EMAIL_2>, call <PHONE_NUMBER_1>, again <EMAIL_1>"
    assert result.counts == {"EMAIL": 3, "PHONE_NUMBER": 1}
    assert result.vault.original("<EMAIL_2>") == "b@example.com"


def test_placements_say_where_each_placeholder_stands_in_the_redacted_text() -> None:
    result = redact("Grüße, a@example.com! Card 4111 1111 1111 1111; again a@example.com")
    assert [(p.type, p.placeholder) for p in result.placements] == [
        ("EMAIL", "<EMAIL_1>"),
        ("CARD_NUMBER", "<CARD_NUMBER_1>"),
        ("EMAIL", "<EMAIL_1>"),
    ]
    assert all(result.text[p.start : p.end] == p.placeholder for p in result.placements)
    assert redact("nothing here").placements == ()


def test_a_shared_vault_keeps_placeholders_consistent_across_messages() -> None:
    vault = Vault()
    first = redact("I am a@example.com", vault=vault)
    second = redact("b@example.com wrote to a@example.com", vault=vault)
    assert (first.text, second.text) == ("I am <EMAIL_1>", "<EMAIL_2> wrote to <EMAIL_1>")
    assert second.counts == {"EMAIL": 2}


def test_redact_only_the_requested_types() -> None:
    result = redact("a@example.com, 4111 1111 1111 1111", types={"CARD_NUMBER"})
    assert result.text == "a@example.com, <CARD_NUMBER_1>"
    assert result.counts == {"CARD_NUMBER": 1}
    with pytest.raises(ValueError, match="NAME"):
        redact("x", types={"NAME"})


def test_vault_round_trips_through_json_and_continues_numbering() -> None:
    vault = Vault()
    redact("a@example.com b@example.com 10.0.0.1", vault=vault)
    stored = json.loads(json.dumps(vault.to_dict()))
    loaded = Vault.from_dict(stored)
    assert loaded.to_dict() == vault.to_dict()
    assert redact("b@example.com c@example.com", vault=loaded).text == "<EMAIL_2> <EMAIL_3>"


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"format": 2, "placeholders": {}},
        {"format": 1},
        {"format": 1, "placeholders": {"EMAIL_1": "a@example.com"}},
        {"format": 1, "placeholders": {"<NAME_1>": "Jane"}},
        {"format": 1, "placeholders": {"<EMAIL_1>": 3}},
        {"format": 1, "placeholders": {"<EMAIL_1>": "a@example.com", "<EMAIL_2>": "a@example.com"}},
    ],
)
def test_vault_refuses_what_it_could_not_have_written(data) -> None:
    with pytest.raises(ValueError, match="vault"):
        Vault.from_dict(data)


def test_restore_puts_known_placeholders_back_and_leaves_others() -> None:
    vault = redact("a@example.com +44 20 7946 0958").vault
    answer = "Write to <EMAIL_1> or call <PHONE_NUMBER_1>; <EMAIL_9>, <email_1> and <EMAIL_1 stay."
    assert restore(answer, vault) == (
        "Write to a@example.com or call +44 20 7946 0958; <EMAIL_9>, <email_1> and <EMAIL_1 stay."
    )


def _streamed(vault: Vault, deltas: list[str]) -> tuple[str, list[str]]:
    restorer = StreamRestorer(vault)
    outputs = [restorer.feed(delta) for delta in deltas]
    outputs.append(restorer.flush())
    return "".join(outputs), outputs


STREAM_ANSWER = "Hi <EMAIL_1>, I <3 you; ring <PHONE_NUMBER_1> or <EMAIL_7> (<EMAIL_1>)<"


def test_stream_restore_matches_restore_at_every_split_point() -> None:
    vault = redact("a@example.com +44 20 7946 0958").vault
    expected = restore(STREAM_ANSWER, vault)
    for cut in range(len(STREAM_ANSWER) + 1):
        assert _streamed(vault, [STREAM_ANSWER[:cut], STREAM_ANSWER[cut:]])[0] == expected, cut


def test_stream_restore_matches_restore_at_every_pair_of_split_points() -> None:
    vault = redact("a@example.com +44 20 7946 0958").vault
    answer = "x<EMAIL_1>y<PHONE_NUMBER_1>"
    expected = restore(answer, vault)
    for first in range(len(answer) + 1):
        for second in range(first, len(answer) + 1):
            deltas = [answer[:first], answer[first:second], answer[second:]]
            assert _streamed(vault, deltas)[0] == expected, (first, second)


def test_stream_restore_character_by_character() -> None:
    vault = redact("a@example.com +44 20 7946 0958").vault
    assert _streamed(vault, list(STREAM_ANSWER))[0] == restore(STREAM_ANSWER, vault)


def test_stream_holds_back_only_a_possible_placeholder_prefix() -> None:
    vault = redact("a@example.com").vault
    restorer = StreamRestorer(vault)
    assert restorer.feed("Hello <EMA") == "Hello "
    assert restorer.feed("IL_1> and <b>bold</b>") == "a@example.com and <b>bold</b>"
    assert restorer.feed("<EMAIL_1") == ""  # "<" plus as many characters as the longest placeholder holds
    assert restorer.feed("2") == "<EMAIL_12"  # one more than any placeholder has: cannot be one
    assert restorer.feed(" end <EMAIL_") == " end "
    assert restorer.flush() == "<EMAIL_"


def test_stream_without_placeholders_holds_nothing() -> None:
    restorer = StreamRestorer(Vault())
    assert restorer.feed("a <EMAIL_1") == "a <EMAIL_1"
    assert restorer.flush() == ""


def test_scrub_replaces_every_entity_with_its_type() -> None:
    text = "a@example.com paid with 4111 1111 1111 1111 from 10.0.0.1 using sk-abcdefghijklmnopqrstuv123456"
    assert scrub(text) == "<EMAIL> paid with <CARD_NUMBER> from <IP_ADDRESS> using <SECRET>"
    assert scrub("nothing to see") == "nothing to see"


ADVERSARIAL = {
    "digits and dots": "1.2." * 25_000,
    "one digit run": "9" * 100_000,
    "spaced digits": "1 " * 50_000,
    "dashed digits": "1-" * 50_000,
    "a@": "a@" * 50_000,
    "a label chain": "x@" + "a." * 50_000,
    "colons": ":" * 100_000,
    "hex and colons": "a:" * 50_000,
    "unterminated keys": "-----BEGIN PRIVATE KEY-----" * 3_800,
    "sk-": "sk-" * 33_000,
    "jwt-ish": "eyJaaaaaaaaa." * 8_000,
    "IBAN starts": "DE00 " * 20_000,
    "SSN halves": "123-45-" * 15_000,
    "placeholder-ish": "<EMAIL_" * 15_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_hostile_100kb_input_finishes_well_under_a_second(name) -> None:
    text = ADVERSARIAL[name]
    started = time.thread_time()  # CPU time: a loaded machine's waits are not backtracking
    detect(text)
    restore(text, redact("a@example.com").vault)
    assert time.thread_time() - started < 1.0
