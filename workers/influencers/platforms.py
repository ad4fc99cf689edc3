"""Each platform's endpoints on the creator-data API, and its answers turned into CreatorRecords.

Per platform: `search(api, term, page)` fetches one page of a keyword search and says where the
next one starts (None: no more), and `profile(api, key)` fetches a profile for enrichment (by
the platform id where the endpoint takes one, else by handle). Paging follows the provider:
TikTok by `cursor` until an empty `search_item_list`; Instagram reels by `page` 1..11; YouTube
by `continuationToken` until there is none.

Engagement rate is computed where the answer has the figures, and named by its formula, since
the platforms' figures are not comparable: TikTok, likes ÷ views over the videos seen; Instagram,
median likes of the reels seen ÷ followers. YouTube search gives views but no likes: none.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from models.influencers.creators import CreatorRecord, emails_in
from workers.clients.scrapecreators import Answer, ScrapeCreators

TIKTOK_FORMULA = "tiktok: sum of likes / sum of views, videos seen"
INSTAGRAM_FORMULA = "instagram: median likes of reels seen / followers"
INSTAGRAM_LAST_PAGE = 11  # the provider answers 400 from page 12
RATE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Page:
    records: list[CreatorRecord]
    following: Any  # where the next page starts; None when the results ran out


@dataclass(frozen=True)
class PlatformApi:
    search: Callable[[ScrapeCreators, str, Any], tuple[Page, Answer]]
    profile: Callable[[ScrapeCreators, str, str], tuple[CreatorRecord, Answer]]


def ratio(numerator: float, denominator: float) -> Decimal | None:
    if denominator <= 0:
        return None
    return (Decimal(str(numerator)) / Decimal(str(denominator))).quantize(
        RATE_PLACES, rounding=ROUND_HALF_EVEN
    )


def _int(value: Any) -> int | None:
    """A count as the provider writes it: 1234, "1234", "1,234" or "1.2M"."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).replace(",", "").strip().upper()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMB]?)", text.split(" ")[0]) if text else None
    if not match:
        return None
    scale = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}[match.group(2)]
    return int(Decimal(match.group(1)) * scale)


def _first_url(node: Any) -> str:
    urls = (node or {}).get("url_list") or []
    return str(urls[0]) if urls else ""


def _by_creator(records: list[CreatorRecord]) -> list[CreatorRecord]:
    """One record per creator, in first-seen order; their posts' figures pooled."""
    merged: dict[str, CreatorRecord] = {}
    for record in records:
        seen = merged.get(record.platform_id)
        if seen is None:
            merged[record.platform_id] = record
            continue
        for name in ("likes", "views"):
            seen.content[name] = [*seen.content.get(name, []), *record.content.get(name, [])]
    return list(merged.values())


# -- TikTok ----------------------------------------------------------------------------------
def tiktok_records(body: dict[str, Any]) -> list[CreatorRecord]:
    records = []
    for item in body.get("search_item_list") or []:
        info = (item or {}).get("aweme_info") or {}
        author = info.get("author") or {}
        if not author.get("uid") or not author.get("unique_id"):
            continue
        stats = info.get("statistics") or {}
        records.append(
            CreatorRecord(
                platform="tiktok",
                platform_id=str(author["uid"]),
                handle=str(author["unique_id"]),
                display_name=str(author.get("nickname") or ""),
                profile_url=f"https://www.tiktok.com/@{author['unique_id']}",
                avatar_url=_first_url(author.get("avatar_medium")),
                followers=_int(author.get("follower_count")),
                bio=str(author.get("signature") or ""),
                emails=emails_in(author.get("signature")),
                content={
                    "post_url": info.get("share_url") or "",
                    "caption": info.get("desc") or "",
                    "likes": [_int(stats.get("digg_count")) or 0],
                    "views": [_int(stats.get("play_count")) or 0],
                },
            )
        )
    merged = _by_creator(records)
    for record in merged:
        record.engagement_rate = ratio(sum(record.content["likes"]), sum(record.content["views"]))
        record.engagement_formula = TIKTOK_FORMULA if record.engagement_rate is not None else None
    return merged


def tiktok_search(api: ScrapeCreators, term: str, page: Any) -> tuple[Page, Answer]:
    start = int(page or 0)
    answer = api.get("/v1/tiktok/search/keyword", {"query": term, "cursor": start})
    items = answer.body.get("search_item_list") or []
    if not items:  # the provider's end of results (it may or may not say has_more)
        return Page([], None), answer
    given = _int(answer.body.get("cursor"))
    following = given if given is not None and given > start else start + len(items)
    return Page(tiktok_records(answer.body), following), answer


def tiktok_profile(
    api: ScrapeCreators, handle: str, cache_max_age: str
) -> tuple[CreatorRecord, Answer]:
    answer = api.get("/v1/tiktok/profile", {"handle": handle, "cache_max_age": cache_max_age})
    user = answer.body.get("user") or {}
    stats = answer.body.get("stats") or {}
    link = str((user.get("bioLink") or {}).get("link") or "")
    return CreatorRecord(
        platform="tiktok",
        platform_id=str(user.get("id") or ""),
        handle=str(user.get("uniqueId") or handle),
        display_name=str(user.get("nickname") or ""),
        followers=_int(stats.get("followerCount")),
        bio=str(user.get("signature") or ""),
        emails=emails_in(user.get("signature"), link.removeprefix("mailto:")),
        links=[link] if link else [],
        country=user.get("region") or None,
    ), answer


# -- Instagram -------------------------------------------------------------------------------
def instagram_records(body: dict[str, Any]) -> list[CreatorRecord]:
    records = []
    for reel in body.get("reels") or []:
        owner = (reel or {}).get("owner") or {}
        if not owner.get("id") or not owner.get("username"):
            continue
        records.append(
            CreatorRecord(
                platform="instagram",
                platform_id=str(owner["id"]),
                handle=str(owner["username"]),
                display_name=str(owner.get("full_name") or ""),
                profile_url=f"https://www.instagram.com/{owner['username']}/",
                avatar_url=str(owner.get("profile_pic_url") or ""),
                followers=_int(owner.get("follower_count")),
                content={
                    "post_url": reel.get("url") or "",
                    "caption": reel.get("caption") or "",
                    "likes": [_int(reel.get("like_count")) or 0],
                    "views": [_int(reel.get("video_view_count")) or 0],
                },
            )
        )
    merged = _by_creator(records)
    for record in merged:
        if record.followers:
            record.engagement_rate = ratio(
                statistics.median(record.content["likes"]), record.followers
            )
            record.engagement_formula = INSTAGRAM_FORMULA
    return merged


def instagram_search(api: ScrapeCreators, term: str, page: Any) -> tuple[Page, Answer]:
    number = int(page or 1)
    answer = api.get("/v2/instagram/reels/search", {"query": term, "page": number})
    records = instagram_records(answer.body)
    if not answer.body.get("reels"):
        return Page([], None), answer
    return Page(records, number + 1 if number < INSTAGRAM_LAST_PAGE else None), answer


def instagram_profile(
    api: ScrapeCreators, handle: str, cache_max_age: str
) -> tuple[CreatorRecord, Answer]:
    answer = api.get(
        "/v1/instagram/profile",
        {"handle": handle, "trim": "true", "cache_max_age": cache_max_age},
    )
    user = (answer.body.get("data") or {}).get("user") or {}
    links = [str(link.get("url")) for link in user.get("bio_links") or [] if link.get("url")]
    if user.get("external_url") and user["external_url"] not in links:
        links.append(str(user["external_url"]))
    followers = _int(user.get("follower_count"))
    if followers is None:
        followers = _int((user.get("edge_followed_by") or {}).get("count"))
    return CreatorRecord(
        platform="instagram",
        platform_id=str(user.get("id") or ""),
        handle=str(user.get("username") or handle),
        display_name=str(user.get("full_name") or ""),
        avatar_url=str(user.get("profile_pic_url_hd") or user.get("profile_pic_url") or ""),
        followers=followers,
        bio=str(user.get("biography") or ""),
        emails=emails_in(user.get("business_email"), user.get("biography"), *links),
        links=links,
    ), answer


# -- YouTube ---------------------------------------------------------------------------------
def youtube_records(body: dict[str, Any]) -> list[CreatorRecord]:
    records = []
    for video in [*(body.get("videos") or []), *(body.get("shorts") or [])]:
        channel = (video or {}).get("channel") or {}
        if not channel.get("id"):
            continue
        handle = str(channel.get("handle") or f"channel/{channel['id']}").lstrip("@")
        records.append(
            CreatorRecord(
                platform="youtube",
                platform_id=str(channel["id"]),
                handle=handle,
                display_name=str(channel.get("title") or ""),
                profile_url=f"https://www.youtube.com/channel/{channel['id']}",
                avatar_url=str(channel.get("thumbnail") or ""),
                content={
                    "post_url": video.get("url") or "",
                    "caption": video.get("title") or "",
                    "views": [_int(video.get("viewCountInt") or video.get("viewCountText")) or 0],
                },
            )
        )
    return _by_creator(records)


def youtube_search(api: ScrapeCreators, term: str, page: Any) -> tuple[Page, Answer]:
    params = {"query": term, **({"continuationToken": page} if page else {})}
    answer = api.get("/v1/youtube/search", params)
    records = youtube_records(answer.body)
    token = answer.body.get("continuationToken") or None
    if not records and not token:
        return Page([], None), answer
    return Page(records, token), answer


def youtube_profile(
    api: ScrapeCreators, key: str, cache_max_age: str
) -> tuple[CreatorRecord, Answer]:
    by = {"channelId": key} if key.startswith("UC") else {"handle": key.lstrip("@")}
    answer = api.get("/v1/youtube/channel", {**by, "cache_max_age": cache_max_age})
    body = answer.body
    links = [
        str(link.get("url") if isinstance(link, dict) else link)
        for link in body.get("links") or []
        if link
    ]
    sources = ((body.get("avatar") or {}).get("image") or {}).get("sources") or []
    return CreatorRecord(
        platform="youtube",
        platform_id=str(body.get("channelId") or ""),
        handle=str(body.get("handle") or key).lstrip("@"),
        display_name=str(body.get("name") or ""),
        avatar_url=str(sources[-1].get("url") or "") if sources else "",
        followers=_int(body.get("subscriberCount")),
        bio=str(body.get("description") or ""),
        emails=emails_in(body.get("email"), body.get("description"), *links),
        links=links,
        country=body.get("country") or None,
    ), answer


PLATFORMS = {
    "tiktok": PlatformApi(tiktok_search, tiktok_profile),
    "instagram": PlatformApi(instagram_search, instagram_profile),
    "youtube": PlatformApi(youtube_search, youtube_profile),
}


def profile_key(platform: str, platform_id: str, handle: str) -> str:
    """What a platform's profile endpoint is asked with: YouTube's takes the channel id."""
    return platform_id if platform == "youtube" else handle
