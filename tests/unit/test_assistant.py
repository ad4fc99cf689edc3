"""The assistant's pure parts: a reply's HTML (sanitised whatever the model wrote) and the
context's token budget (largest parts summarised, then cut, and the metadata saying so)."""

from __future__ import annotations

from models.assistant import Context, Part, estimate_tokens, fit, to_html


def test_light_markdown_becomes_tags() -> None:
    html = to_html(
        "**Total**: 12.50 USD\n\n- Spotify: *8.00*\n- Deezer: `4.50`\n\n[page](https://x.example)"
    )

    assert html == (
        "<p><strong>Total</strong>: 12.50 USD</p>"
        "<ul><li>Spotify: <em>8.00</em></li><li>Deezer: <code>4.50</code></li></ul>"
        '<p><a href="https://x.example" rel="noopener noreferrer nofollow">page</a></p>'
    )


def test_scripts_handlers_and_javascript_links_never_reach_the_html() -> None:
    html = to_html(
        'Hi <script>alert(1)</script><img src=x onerror="alert(1)">'
        '<a href="javascript:alert(1)">x</a> [y](javascript:alert(2)) <iframe src="//e"></iframe>'
    )

    for banned in ("<script", "onerror", "javascript:", "<img", "<iframe"):
        assert banned not in html
    assert html.startswith("<p>Hi ")


def _context(budget: int) -> Context:
    return Context(
        [
            Part("profile", {"genre": "pop"}),
            Part("trend", {"USD": list(range(200))}, {"USD": [198, 199]}),
            Part("fans", {"total": 5, "top_countries": ["US"] * 50}),
        ],
        budget,
    )


def test_a_context_within_its_budget_is_given_whole() -> None:
    context = fit(_context(10_000))

    assert context.meta()["included"] == ["profile", "trend", "fans"]
    assert context.meta()["summarised"] == [] and context.meta()["cut"] == []


def test_the_largest_part_is_summarised_first_then_parts_without_a_summary_are_cut() -> None:
    whole = _context(10_000)
    trend_tokens = estimate_tokens(whole.parts[1].text)
    fans_tokens = estimate_tokens(whole.parts[2].text)
    assert trend_tokens > fans_tokens  # the trend is the largest

    summarised = _context(whole.tokens - trend_tokens + 20)
    summarised_meta = fit(summarised).meta()
    assert summarised_meta["summarised"] == ["trend"] and summarised_meta["cut"] == []

    cut = fit(_context(30)).meta()
    assert cut["cut"] == ["fans"] and cut["included"] == ["profile", "trend"]
    assert cut["tokens"] <= 30
