"""The fans domain's API: the fan list, its imports, exports and insights; the public page
and its sign-up; a fan's paid subscription; releases and their review."""

from web.fans import checkouts, fans, imports, public, releases

blueprints = [fans.blp, imports.blp, public.blp, checkouts.blp, releases.blp]
