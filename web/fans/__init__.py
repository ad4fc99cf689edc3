"""The fans domain's API: the fan list, its imports, exports and insights; the public page
and its sign-up; releases and their review."""

from web.fans import fans, imports, public, releases

blueprints = [fans.blp, imports.blp, public.blp, releases.blp]
