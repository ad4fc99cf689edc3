// Starts Swagger UI on #swagger-ui with the OpenAPI document its data-spec-url names. It is a
// file, not an inline script, because the page's Content-Security-Policy allows none.
"use strict";

const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.specUrl,
  domNode: root,
  deepLinking: true,
  // Some 170 operations: the tags start folded, and a filter box finds one by its tag.
  docExpansion: "none",
  filter: true,
  // The online validator's badge is an image from a third party that would be told the
  // document's URL. This layout has no badge; off all the same, should the layout change.
  validatorUrl: null,
});
