// A preset's analytics page: one uPlot chart per metric, one line per version, from the JSON data
// block the server rendered (no inline script or style: the page's policy forbids both).
import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { colour, redrawOnThemeAndResize } from "../charts.js";

// Theme colours, cycled when a preset has more versions than colours.
const PALETTE = ["--accent", "--warn", "--ok", "--danger", "--muted", "--fg"];

function tickFormat(unit) {
  if (unit === "share") return (u, ticks) => ticks.map((t) => `${Math.round(t * 100)}%`);
  if (unit === "cost") return (u, ticks) => ticks.map((t) => t.toFixed(5));
  return (u, ticks) => ticks.map((t) => t.toLocaleString());
}

function options(width, chart, versions) {
  const stroke = colour("--muted");
  const grid = { stroke: colour("--line"), width: 1 };
  const lines = versions.map((label, i) => ({
    label,
    stroke: colour(PALETTE[i % PALETTE.length]),
    width: 2,
    points: { show: true, size: 5 },
    spanGaps: false, // a day without answers is a gap, not a zero
  }));
  return {
    width,
    height: 220,
    scales: { x: { time: true }, y: chart.unit === "share" ? { range: [0, 1] } : { auto: true } },
    axes: [{ stroke, grid }, { stroke, grid, label: chart.unit, values: tickFormat(chart.unit), size: 70 }],
    series: [{}, ...lines],
    // Days are UTC days, as the report counts them, wherever the reader is.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
  };
}

const drawn = [];

function draw() {
  const block = document.getElementById("analytics-data");
  if (!block) return;
  const data = JSON.parse(block.textContent);
  const xs = data.days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
  for (const chart of drawn.splice(0)) chart.destroy();
  for (const holder of document.querySelectorAll("[data-analytics-chart]")) {
    const chart = data.charts.find((c) => c.key === holder.dataset.analyticsChart);
    if (!chart) continue;
    const width = Math.max(280, holder.clientWidth);
    drawn.push(new uPlot(options(width, chart, data.versions), [xs, ...chart.series], holder));
  }
}

draw();
// Colours follow the theme, and the width follows the window.
redrawOnThemeAndResize(draw);
