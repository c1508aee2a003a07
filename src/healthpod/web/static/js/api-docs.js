// Swagger UI over the app's own OpenAPI description, for /docs (no inline script: the CSP
// allows only scripts served by the app). No validator badge: it would call a third party.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
