// Swagger UI on this server's OpenAPI document; no validator badge (it would ask a server elsewhere)
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  if (!window.SwaggerUIBundle || !root) return;
  window.SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    onComplete: () => root.setAttribute("data-ready", "swagger-ui"),
  });
});
