"""The platforms' answers, in the shapes the provider sends (recorded-style JSON), turned into
creator records; engagement named by its formula; e-mails found in bios; similar terms."""

from __future__ import annotations

from decimal import Decimal

from models.influencers.creators import emails_in
from workers.influencers.platforms import (
    INSTAGRAM_FORMULA,
    TIKTOK_FORMULA,
    instagram_records,
    tiktok_records,
    youtube_records,
)
from workers.influencers.similar import seed_terms

TIKTOK_PAGE = {
    "search_item_list": [
        {
            "aweme_info": {
                "aweme_id": "7270000000000000001",
                "desc": "caption #gaming",
                "share_url": "https://www.tiktok.com/@qndzy/video/1",
                "create_time": 1700000000,
                "statistics": {
                    "digg_count": 12345,
                    "comment_count": 234,
                    "play_count": 56789,
                    "share_count": 123,
                },
                "text_extra": [{"type": 1, "hashtag_name": "gaming"}],
                "video": {"cover": {"url_list": ["https://p16.example/cover.jpeg"]}},
                "author": {
                    "uid": "6770000000000000000",
                    "unique_id": "qndzy",
                    "nickname": "QNDZY",
                    "follower_count": 320626,
                    "signature": "",
                    "avatar_medium": {"url_list": ["https://p16.example/a.jpeg"]},
                    "verification_type": 0,
                },
            }
        },
        {
            "aweme_info": {
                "aweme_id": "7270000000000000002",
                "desc": "second video",
                "statistics": {"digg_count": 655, "play_count": 3211},
                "author": {"uid": "6770000000000000000", "unique_id": "qndzy"},
            }
        },
        {"aweme_info": {"aweme_id": "7270000000000000003", "author": {}}},  # no author: skipped
    ],
    "cursor": 30,
    "has_more": 1,
    "total": 0,
    "extra": {},
}


def test_tiktok_videos_of_one_author_make_one_creator_with_likes_per_view() -> None:
    [record] = tiktok_records(TIKTOK_PAGE)
    assert (record.platform, record.platform_id, record.handle) == (
        "tiktok",
        "6770000000000000000",
        "qndzy",
    )
    assert record.followers == 320626
    assert record.profile_url == "https://www.tiktok.com/@qndzy"
    assert record.engagement_rate == Decimal("0.216667")  # (12345 + 655) / (56789 + 3211)
    assert record.engagement_formula == TIKTOK_FORMULA


def test_instagram_reels_give_median_likes_per_follower() -> None:
    owner = {"id": "42", "username": "chef", "full_name": "Chef", "follower_count": 1000}
    page = {
        "success": True,
        "credits_remaining": 9999,
        "reels": [
            {
                "id": "1",
                "url": "https://www.instagram.com/reel/A/",
                "like_count": 10,
                "owner": owner,
            },
            {"id": "2", "like_count": 30, "owner": owner},
            {"id": "3", "like_count": 200, "owner": owner},
        ],
    }
    [record] = instagram_records(page)
    assert record.engagement_rate == Decimal("0.030000")  # median 30 / 1000 followers
    assert record.engagement_formula == INSTAGRAM_FORMULA


def test_youtube_channels_come_without_followers_or_engagement_until_enriched() -> None:
    page = {
        "videos": [
            {
                "type": "video",
                "id": "abc",
                "url": "https://www.youtube.com/watch?v=abc",
                "title": "t",
                "channel": {"id": "UC123", "title": "Chan", "handle": "@chan", "thumbnail": "x"},
                "viewCountText": "17 views",
                "viewCountInt": 17,
            },
            {"type": "video", "id": "d", "channel": {"id": "UC999", "title": "No handle"}},
        ],
        "channels": [],
        "continuationToken": "tok",
    }
    records = youtube_records(page)
    assert [(r.platform_id, r.handle) for r in records] == [
        ("UC123", "chan"),
        ("UC999", "channel/UC999"),
    ]
    assert all(r.followers is None and r.engagement_rate is None for r in records)


def test_emails_are_found_in_bios_once_each() -> None:
    assert emails_in("Biz: Hello@Brand.co.uk.", "hello@brand.co.uk or x@y.io") == [
        "hello@brand.co.uk",
        "x@y.io",
    ]
    assert emails_in("", None, "no address here @handle") == []


def test_a_seed_bio_gives_its_hashtags_then_its_frequent_words() -> None:
    terms = seed_terms("Vegan baking and vegan desserts. #plantbased #baking contact me", "Bakes")
    assert terms[:2] == ["plantbased", "baking"]
    assert "vegan" in terms
    assert "contact" not in terms
