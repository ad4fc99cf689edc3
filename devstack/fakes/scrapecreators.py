"""A local stand-in for the ScrapeCreators creator-data API, in its real shapes.

Endpoints (those Backline calls): TikTok keyword search (`cursor` paging until an empty
`search_item_list`) and profile; Instagram reels search v2 (`page` 1..11, 12 and above answer
400) and profile; YouTube search (`continuationToken`, absent on the last page) and channel.
Every answer carries `success`, `credits_remaining` and `credits_charged`; a profile asked
with `cache_max_age` that was served before comes back `cached: true` at 0 credits. Errors as
the provider sends them: no key is HTTP 500 `apiKey is required`, a wrong key 401, no credits
402, an unknown handle HTTP 200 with `error: not_found`.

Answers are deterministic: each platform has a pool of creators, and a query's results are
the pool ordered by a hash of the query. Knobs on `FakeScrapeCreators.state` (tests set them
directly) inject 429s with Retry-After, 500s, malformed JSON, slow answers and duplicates, or
enforce a request rate (`rate_limit_per_s`: 429 past it); it counts every request per endpoint
and cursor, and the times they arrived.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.fakes import Fake

KEY = "fake-scrapecreators-key"
POOL_SIZE = 600
TOPICS = (
    "gaming", "fitness", "cooking", "travel", "beauty", "music", "tech", "fashion",
    "comedy", "pets", "finance", "dance",
)  # fmt: skip
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN")
PAGE = {"tiktok": 20, "instagram": 12, "youtube": 20}
INSTAGRAM_LAST_PAGE = 11


@dataclass
class FakeState:
    """What the fake answers, and what it has seen."""

    results_per_query: int = 200
    credits: int = 1_000_000
    failure_rate: float = 0.0  # share of answers that are 429 or 500 instead
    malformed_rate: float = 0.0  # share of answers that are cut-off JSON
    retry_after_s: int = 1
    slow_s: float = 0.0
    rate_limit_per_s: int = 0  # past this many requests in the last second: 429 (0: no limit)
    duplicates: bool = False  # each page repeats the previous page's last item
    seed: int = 7
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (path, page) -> n
    answered: Counter[tuple[str, str]] = field(default_factory=Counter)  # the 200s with data
    times: list[float] = field(default_factory=list)
    rate_limited: int = 0  # the 429s rate_limit_per_s caused
    cached_profiles: set[tuple[str, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_within(self, start: float, end: float) -> int:
        found = 0
        for t in reversed(self.times):  # the newest first: a window is usually the last second
            if t < start:
                break
            found += t < end
        return found


def _hash(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def creator(platform: str, n: int) -> dict[str, Any]:
    """Pool member n of `platform`, the same on every call."""
    h = _hash(platform, n)
    topics = [TOPICS[(h >> (4 * i)) % len(TOPICS)] for i in range(3)]
    handle = f"{platform[:2]}{topics[0]}{n}"
    email = f"{handle}@example.com" if h % 2 == 0 else None
    bio = f"{topics[0].title()} and {topics[1]} creator. " + " ".join(f"#{t}" for t in topics)
    return {
        "id": str(7_000_000_000 + n) if platform != "youtube" else f"UC{h:022x}"[:24],
        "handle": handle,
        "name": f"{topics[0].title()} Creator {n}",
        "followers": 1_000 + (h % 2_000_000),
        "bio": bio + (f" Business: {email}" if email and h % 4 == 0 else ""),
        "email": email,
        "link": f"https://linktr.ee/{handle}",
        "country": COUNTRIES[h % len(COUNTRIES)],
        "topics": topics,
        "views": 500 + (h >> 8) % 500_000,
        "likes": 20 + (h >> 16) % 40_000,
    }


def results(platform: str, query: str, count: int) -> list[int]:
    """The pool members a query finds, best first."""
    return sorted(range(POOL_SIZE), key=lambda n: _hash(query.lower(), platform, n))[:count]


def by_handle(platform: str, handle: str) -> dict[str, Any] | None:
    wanted = handle.lstrip("@").lower()
    for n in range(POOL_SIZE):
        c = creator(platform, n)
        if c["handle"].lower() == wanted or c["id"] == handle:
            return c
    return None


# -- answers in the provider's shapes --------------------------------------------------------
def tiktok_item(c: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "aweme_info": {
            "aweme_id": str(7_300_000_000_000 + n),
            "desc": f"{' '.join('#' + t for t in c['topics'])} new video",
            "share_url": f"https://www.tiktok.com/@{c['handle']}/video/{n}",
            "create_time": 1_700_000_000 + n,
            "statistics": {
                "digg_count": c["likes"],
                "comment_count": c["likes"] // 20,
                "play_count": c["views"],
                "share_count": c["likes"] // 50,
            },
            "text_extra": [{"type": 1, "hashtag_name": t} for t in c["topics"]],
            "video": {"cover": {"url_list": [f"https://p16.tiktokcdn.com/cover/{n}.jpeg"]}},
            "author": {
                "uid": c["id"],
                "unique_id": c["handle"],
                "nickname": c["name"],
                "follower_count": c["followers"],
                "signature": "",
                "avatar_medium": {"url_list": [f"https://p16.tiktokcdn.com/avatar/{n}.jpeg"]},
                "verification_type": 0,
            },
        }
    }


def instagram_reel(c: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "id": str(3_100_000_000 + n),
        "shortcode": f"C{n:08d}",
        "url": f"https://www.instagram.com/reel/C{n:08d}/",
        "caption": " ".join("#" + t for t in c["topics"]),
        "video_view_count": c["views"],
        "video_play_count": c["views"] * 2,
        "like_count": c["likes"],
        "comment_count": c["likes"] // 20,
        "taken_at": "2026-11-20T10:00:00.000Z",
        "owner": {
            "id": c["id"],
            "username": c["handle"],
            "full_name": c["name"],
            "is_verified": False,
            "profile_pic_url": f"https://scontent.cdninstagram.com/v/{n}.jpg",
            "follower_count": c["followers"],
        },
    }


def youtube_video(c: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "type": "video",
        "id": f"v{n:010d}",
        "url": f"https://www.youtube.com/watch?v=v{n:010d}",
        "title": f"{c['topics'][0]} video {n}",
        "thumbnail": f"https://i.ytimg.com/vi/v{n:010d}/hqdefault.jpg",
        "channel": {
            "id": c["id"],
            "title": c["name"],
            "handle": f"@{c['handle']}",
            "thumbnail": f"https://yt3.ggpht.com/{c['handle']}=s88",
        },
        "viewCountText": f"{c['views']:,} views",
        "viewCountInt": c["views"],
        "publishedTimeText": "2 weeks ago",
        "publishedTime": "2026-11-18T08:25:25.070Z",
        "lengthText": "0:21",
        "lengthSeconds": 21,
        "description": " ".join("#" + t for t in c["topics"]),
        "badges": [],
    }


class FakeScrapeCreators:
    """The WSGI app."""

    def __init__(self, state: FakeState | None = None) -> None:
        self.state = state or FakeState()
        self._random = random.Random(self.state.seed)  # noqa: S311 - fault injection

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.answer(Request(environ))(environ, start_response)

    def answer(self, request: Request) -> Response:
        s = self.state
        page_key = next(
            (request.args[k] for k in ("cursor", "page", "continuationToken") if k in request.args),
            request.args.get("handle") or request.args.get("channelId") or "",
        )
        key = (request.path, f"{request.args.get('query', '')}|{page_key}")
        with s.lock:
            now = time.monotonic()
            s.requests[key] += 1
            s.times.append(now)
            roll, malformed_roll = self._random.random(), self._random.random()
            over_rate = s.rate_limit_per_s and s.requests_within(now - 1.0, now + 1) > (
                s.rate_limit_per_s
            )
        if over_rate:
            s.rate_limited += 1
            return _json(
                {"success": False, "message": "Too many requests"}, 429, {"Retry-After": "1"}
            )
        if s.slow_s:
            time.sleep(s.slow_s)
        given = request.headers.get("x-api-key")
        if not given:
            return _json({"success": False, "message": "apiKey is required"}, 500)
        if given != KEY:
            return _json({"success": False, "message": "Invalid API key"}, 401)
        if roll < s.failure_rate:
            if roll < s.failure_rate / 2:
                return _json(
                    {"success": False, "message": "Too many requests"},
                    429,
                    {"Retry-After": str(s.retry_after_s)},
                )
            return _json({"success": False, "message": "Internal server error"}, 500)
        if malformed_roll < s.malformed_rate:
            return Response('{"success": true, "search_item_l', 200, mimetype="application/json")
        route = ROUTES.get(request.path)
        if route is None:
            return _json({"success": False, "message": "Not found"}, 404)
        body, cost = route(self, request)
        if isinstance(body, Response):
            return body
        with s.lock:
            if s.credits < cost:
                return _json(
                    {"success": False, "message": "Looks like you're out of credits :("}, 402
                )
            s.credits -= cost
            if "error" not in body:
                s.answered[key] += 1
        return _json(
            {"success": True, "credits_remaining": s.credits, "credits_charged": cost, **body},
            200,
        )

    # -- search ------------------------------------------------------------------------------
    def _page(self, platform: str, query: str, start: int) -> list[int]:
        found = results(platform, query, self.state.results_per_query)
        page = found[start : start + PAGE[platform]]
        if self.state.duplicates and start > 0 and page:
            page = [found[start - 1], *page]
        return page

    def tiktok_search(self, request: Request) -> tuple[Any, int]:
        start = _int(request.args.get("cursor"), 0)
        page = self._page("tiktok", request.args.get("query", ""), start)
        items = [tiktok_item(creator("tiktok", n), n) for n in page]
        return {"search_item_list": items, "cursor": start + PAGE["tiktok"]}, 1

    def instagram_reels(self, request: Request) -> tuple[Any, int]:
        page = _int(request.args.get("page"), 1)
        if not 1 <= page <= INSTAGRAM_LAST_PAGE:
            bad = {"success": False, "message": "page must be between 1 and 11"}
            return _json(bad, 400), 0
        start = (page - 1) * PAGE["instagram"]
        found = self._page("instagram", request.args.get("query", ""), start)
        return {"reels": [instagram_reel(creator("instagram", n), n) for n in found]}, 1

    def youtube_search(self, request: Request) -> tuple[Any, int]:
        token = request.args.get("continuationToken")
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        query = request.args.get("query", "")
        page = self._page("youtube", query, start)
        body: dict[str, Any] = {
            "videos": [youtube_video(creator("youtube", n), n) for n in page],
            "channels": [],
            "playlists": [],
            "shorts": [],
            "shelves": [],
            "lives": [],
        }
        following = start + PAGE["youtube"]
        if following < self.state.results_per_query:
            body["continuationToken"] = base64.urlsafe_b64encode(str(following).encode()).decode()
        return body, 1

    # -- profiles ----------------------------------------------------------------------------
    def _profile(self, request: Request, platform: str) -> tuple[dict[str, Any] | None, dict]:
        handle = request.args.get("handle") or request.args.get("channelId") or ""
        found = by_handle(platform, handle)
        if found is None:
            return None, {
                "error": "not_found",
                "errorStatus": 404,
                "message": f"No profile found for {handle}",
            }
        extra: dict[str, Any] = {}
        cache_key = (platform, found["id"])
        with self.state.lock:
            if request.args.get("cache_max_age") and cache_key in self.state.cached_profiles:
                extra = {"cached": True, "cached_at": "2026-12-06T08:00:00.000Z"}
            self.state.cached_profiles.add(cache_key)
        return found, extra

    def tiktok_profile(self, request: Request) -> tuple[Any, int]:
        c, extra = self._profile(request, "tiktok")
        if c is None:
            return extra, 0
        return {
            "user": {
                "id": c["id"],
                "uniqueId": c["handle"],
                "nickname": c["name"],
                "signature": c["bio"],
                "verified": False,
                "bioLink": {"link": c["link"]},
                "region": c["country"],
            },
            "stats": {
                "followerCount": c["followers"],
                "followingCount": 120,
                "heartCount": c["likes"] * 40,
                "videoCount": 85,
            },
            **extra,
        }, (0 if extra else 1)

    def instagram_profile(self, request: Request) -> tuple[Any, int]:
        c, extra = self._profile(request, "instagram")
        if c is None:
            return extra, 0
        user = {
            "id": c["id"],
            "username": c["handle"],
            "full_name": c["name"],
            "biography": c["bio"],
            "bio_links": [
                {"title": "", "url": c["link"], "lynx_url": c["link"], "link_type": "external"}
            ],
            "external_url": c["link"],
            "business_email": c["email"] if _hash(c["id"]) % 3 == 0 else None,
            "is_private": False,
            "is_verified": False,
            "profile_pic_url": f"https://scontent.cdninstagram.com/v/{c['id']}.jpg",
            "follower_count": c["followers"],
            "edge_followed_by": {"count": c["followers"]},
            "edge_follow": {"count": 300},
        }
        return {"data": {"user": user}, **extra}, (0 if extra else 1)

    def youtube_channel(self, request: Request) -> tuple[Any, int]:
        c, extra = self._profile(request, "youtube")
        if c is None:
            return extra, 0
        return {
            "channelId": c["id"],
            "channel": f"https://www.youtube.com/@{c['handle']}",
            "handle": f"@{c['handle']}",
            "name": c["name"],
            "description": c["bio"],
            "avatar": {
                "image": {
                    "sources": [
                        {"url": f"https://yt3.ggpht.com/{c['handle']}", "width": 88, "height": 88}
                    ]
                }
            },
            "subscriberCount": c["followers"],
            "subscriberCountText": f"{c['followers']:,} subscribers",
            "email": c["email"],
            "links": [c["link"]],
            "country": c["country"],
            **extra,
        }, (0 if extra else 1)


ROUTES = {
    "/v1/tiktok/search/keyword": FakeScrapeCreators.tiktok_search,
    "/v1/tiktok/profile": FakeScrapeCreators.tiktok_profile,
    "/v2/instagram/reels/search": FakeScrapeCreators.instagram_reels,
    "/v1/instagram/profile": FakeScrapeCreators.instagram_profile,
    "/v1/youtube/search": FakeScrapeCreators.youtube_search,
    "/v1/youtube/channel": FakeScrapeCreators.youtube_channel,
}


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers, mimetype="application/json")


FAKE = Fake(
    name="ScrapeCreators",
    base_url_variable="SCRAPECREATORS_BASE_URL",
    key_variable="SCRAPECREATORS_API_KEY",
    create_app=FakeScrapeCreators,
    env={"SCRAPECREATORS_API_KEY": KEY},
)
