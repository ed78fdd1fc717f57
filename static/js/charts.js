// What every uPlot page shares: theme colours read from CSS variables, and redrawing when the theme
// or the window width changes (charts are drawn at a pixel width and with resolved colours).

export function colour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function redrawOnThemeAndResize(draw) {
  new MutationObserver(draw).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
  let resizing = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(draw);
  });
}
