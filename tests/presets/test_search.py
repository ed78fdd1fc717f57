"""Listing: full-text search (ranked), filters, ordering and pagination."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from presets.models import Preset
from tests.presets.conftest import url


def slugs(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [p["slug"] for p in response.json()["results"]]


def test_search_matches_name_tags_description_and_prompt_ranked(api, alice, create) -> None:
    create(alice, slug="haiku", name="Haiku poems", description="short verse")
    create(alice, slug="legal", tags=["poems"], description="contracts")
    create(alice, slug="tutor", system_prompt="Explain poems to children.")
    create(alice, slug="unrelated", system_prompt="Translate French.")
    found = slugs(api(alice).get(url("preset-list") + "?q=poem"))
    assert set(found) == {"haiku", "legal", "tutor"}
    assert found[-1] == "tutor"  # name and tag matches outrank a prompt match


def test_search_is_limited_to_what_the_caller_sees(api, alice, bob, create) -> None:
    create(alice, slug="alice-poems", description="poems")
    assert slugs(api(bob).get(url("preset-list") + "?q=poems")) == []


def test_search_does_not_cross_organisations(api, alice, carol, globex, create) -> None:
    create(alice, slug="acme-poems", description="poems")
    assert slugs(api(carol).get(url("preset-list", org="globex") + "?q=poems")) == []


def test_websearch_syntax_is_safe(api, alice, create) -> None:
    create(alice, slug="haiku", description="poems")
    for query in ["poems -haiku", '"short poems"', "poems OR x", "'; drop table presets_preset; --", "&|!:*"]:
        assert api(alice).get(url("preset-list"), {"q": query}).status_code == 200


def test_filters(api, alice, bob, team, create, models) -> None:
    create(alice, slug="a1", tags=["x"], model="gpt-4o")
    create(alice, slug="a2", tags=["y"])
    create(bob, slug="b1", scope="team", team=str(team.pk))
    client = api(alice)
    assert slugs(client.get(url("preset-list") + "?tag=x")) == ["a1"]
    assert slugs(client.get(url("preset-list") + "?model=gpt-4o")) == ["a1"]
    assert slugs(client.get(url("preset-list") + "?owner=bob")) == ["b1"]
    assert slugs(client.get(url("preset-list") + "?team=engineering")) == ["b1"]
    assert slugs(client.get(url("preset-list") + "?scope=team&status=draft")) == ["b1"]
    assert sorted(slugs(client.get(url("preset-list") + "?ordering=name"))) == ["a1", "a2", "b1"]


def test_updated_after_and_pagination(api, alice, create) -> None:
    for n in range(5):
        create(alice, slug=f"p{n}")
    Preset.objects.filter(slug="p0").update(updated_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert "p0" not in slugs(api(alice).get(url("preset-list"), {"updated_after": since}))
    page = api(alice).get(url("preset-list") + "?page_size=2&page=2").json()
    assert (page["count"], len(page["results"])) == (5, 2)


def test_bad_filter_values_are_400(api, alice) -> None:
    for query in ["?scope=galaxy", "?status=maybe", "?updated_after=yesterday", "?ordering=secret"]:
        response = api(alice).get(url("preset-list") + query)
        assert response.status_code == 400, query
        assert response.json()["error"]["code"] == "invalid"


def test_updated_after_takes_any_offset_python_reads_and_refuses_instants_outside_the_calendar(
    api, alice, create
) -> None:
    create(alice, slug="recent")
    # -19:42 is beyond PostgreSQL's ±15:59: compared in UTC it is fine (it was a DataError, a 500).
    assert slugs(api(alice).get(url("preset-list"), {"updated_after": "0016-04-02T10:40:33-19:42"})) == ["recent"]
    response = api(alice).get(url("preset-list"), {"updated_after": "0001-01-01T00:00:00+14:00"})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["updated_after"]


def test_search_pages_carry_the_total_and_follow_rank_then_recency(api, alice, bob, create) -> None:
    for n in range(7):
        create(alice, slug=f"prompt-{n}", system_prompt=f"Write poems, take {n}.")
    create(alice, slug="named", name="Poems", description="poems")
    create(bob, slug="bobs-poems", name="Poems of Bob")  # private to bob: never counted for alice
    client = api(alice)
    first = client.get(url("preset-list"), {"q": "poems", "page_size": 3}).json()
    assert first["count"] == 8
    assert first["results"][0]["slug"] == "named"
    assert first["next"]
    assert first["previous"] is None
    seen = [p["slug"] for p in first["results"]]
    for page in (2, 3):
        body = client.get(url("preset-list"), {"q": "poems", "page_size": 3, "page": page}).json()
        assert body["count"] == 8
        seen += [p["slug"] for p in body["results"]]
    assert sorted(seen) == sorted(["named", *(f"prompt-{n}" for n in range(7))])
    assert seen[1:] == [f"prompt-{n}" for n in reversed(range(7))]  # equal rank: newest first


def test_search_page_past_the_end_is_404_and_a_bad_page_is_404(api, alice, create) -> None:
    create(alice, slug="haiku", description="poems")
    client = api(alice)
    for page in ("2", "0", "x"):
        response = client.get(url("preset-list"), {"q": "poems", "page": page})
        assert response.status_code == 404, page
        assert response.json()["error"]["code"] == "not_found"
    assert client.get(url("preset-list"), {"q": "nothing-matches-this"}).json()["count"] == 0


def test_search_with_an_explicit_ordering_orders_by_it(api, alice, create) -> None:
    create(alice, slug="b-poems", name="B poems")
    create(alice, slug="a-poems", name="A poems", system_prompt="poems poems poems")
    assert slugs(api(alice).get(url("preset-list"), {"q": "poems", "ordering": "name"})) == ["a-poems", "b-poems"]


def test_a_null_character_in_a_search_is_400_not_a_database_error(api, alice, create) -> None:
    create(alice, name="Tutor")
    for path in [url("preset-list") + "?q=tu%00tor", "/api/v1/gallery/?q=%00"]:
        response = api(alice).get(path)
        assert response.status_code == 400, path
        assert response.json()["error"] == {
            "code": "invalid",
            "message": "Null characters are not allowed.",
            "details": {"field": "q"},
        }


def test_a_hyphenated_slug_is_found_and_ranks_first(api, alice, create) -> None:
    create(alice, slug="fp-bad-d6831a", name="Fp check")
    create(alice, slug="other", name="Bad fp", description="fp bad d6831a fp bad")
    assert slugs(api(alice).get(url("preset-list") + "?q=fp-bad-d6831a"))[0] == "fp-bad-d6831a"
    assert slugs(api(alice).get(url("preset-list") + "?q=FP-BAD-D6831A"))[0] == "fp-bad-d6831a"


def test_an_exact_name_ranks_above_word_matches_whatever_the_case(api, alice, create) -> None:
    create(alice, slug="many", name="Poems about poems", tags=["poems"], description="poems poems poems")
    create(alice, slug="exact", name="Poems", system_prompt="Write verse.")
    assert slugs(api(alice).get(url("preset-list") + "?q=pOEMS")) == ["exact", "many"]


def test_the_gallery_finds_a_hyphenated_slug(api, alice, carol, acme, create) -> None:
    from presets.services import review
    from tests.factories import MembershipFactory, UserFactory

    approver = MembershipFactory(org=acme, role="approver").user
    body = create(alice, slug="no-such-word-x1", scope="public", name="Helper")
    preset = Preset.objects.get(pk=body["id"])
    review.preset_submit(preset=preset, actor=alice)
    review.preset_approve(preset=preset, actor=approver, number=1)
    review.preset_staff_approve_public(preset=preset, staff=UserFactory(is_staff=True), number=1)
    assert [p["slug"] for p in api(carol).get("/api/v1/gallery/?q=no-such-word-x1").json()["results"]] == [
        "no-such-word-x1"
    ]
