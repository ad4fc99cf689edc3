"""Similar creators, built from keyword searches: the provider has no similar-creators endpoint.

The seed's profile gives the terms (its bio's hashtags first, then its most frequent content
words); each term becomes a keyword search, the seed itself is left out, and a candidate found
by several terms ranks above one found by a single term (its `match_terms` say which).
"""

from __future__ import annotations

import re
from collections import Counter

MAX_TERMS = 5
HASHTAG = re.compile(r"#(\w{2,50})", re.UNICODE)
WORD = re.compile(r"[^\W\d_]{4,30}", re.UNICODE)
STOPWORDS = frozenset(
    [
        "about",
        "after",
        "again",
        "also",
        "and",
        "are",
        "because",
        "been",
        "being",
        "business",
        "channel",
        "check",
        "contact",
        "content",
        "creator",
        "daily",
        "email",
        "every",
        "follow",
        "from",
        "have",
        "here",
        "into",
        "just",
        "like",
        "link",
        "more",
        "most",
        "new",
        "only",
        "our",
        "over",
        "please",
        "posts",
        "some",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "videos",
        "video",
        "what",
        "when",
        "where",
        "which",
        "while",
        "with",
        "your",
        "youtube",
        "tiktok",
        "instagram",
        "subscribe",
    ]
)


def seed_terms(bio: str, extra: str = "") -> list[str]:
    """Up to MAX_TERMS search terms for creators like the one `bio` (and `extra`) describe."""
    text = f"{bio}\n{extra}"
    terms: dict[str, None] = {}
    for tag in HASHTAG.findall(text):
        terms.setdefault(tag.lower(), None)
    without_tags = HASHTAG.sub(" ", text)
    counts = Counter(w.lower() for w in WORD.findall(without_tags) if w.lower() not in STOPWORDS)
    for word, _ in counts.most_common():
        terms.setdefault(word, None)
    return list(terms)[:MAX_TERMS]
