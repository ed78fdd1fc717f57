// The usage page: sizes each quota bar from its data attributes (style properties set from script are
// allowed by the page's policy, style attributes are not) and draws the organisation's tokens and
// cost with uPlot from the JSON data block the server rendered.
import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { colour, redrawOnThemeAndResize } from "../charts.js";

function sizeBars() {
  for (const track of document.querySelectorAll(".quota-track")) {
    track.querySelector(".quota-used").style.width = `${Number(track.dataset.usedShare) || 0}%`;
    track.querySelector(".quota-reserved").style.width = `${Number(track.dataset.reservedShare) || 0}%`;
  }
}

function axes(xValues) {
  const stroke = colour("--muted");
  const grid = { stroke: colour("--line"), width: 1 };
  const x = { stroke, grid, ...(xValues ? { values: xValues, splits: (u) => u.data[0] } : {}) };
  return [
    x,
    { stroke, grid, label: "tokens", scale: "tokens" },
    {
      stroke,
      grid: { show: false },
      label: "cost",
      scale: "cost",
      side: 1,
      size: 80,
      values: (u, ticks) => ticks.map((t) => t.toFixed(4)),
    },
  ];
}

function options(width, xValues, bars) {
  const paths = bars ? uPlot.paths.bars({ size: [0.6, 64] }) : undefined;
  return {
    width,
    height: 260,
    // Categories sit at 0..n-1: half a step of room each side keeps one model's bar inside the plot.
    scales: {
      x: xValues ? { time: false, range: (u) => [-0.5, u.data[0].length - 0.5] } : { time: true },
      tokens: { auto: true },
      cost: { auto: true },
    },
    axes: axes(xValues),
    series: [
      {},
      { label: "Tokens", scale: "tokens", stroke: colour("--accent"), fill: bars ? colour("--accent") : undefined, width: 2, paths },
      // Per model, cost is a dot over each bar: a line between two models would mean nothing.
      { label: "Cost", scale: "cost", stroke: colour("--warn"), width: 2, points: { show: true, size: 9 }, ...(bars ? { paths: () => null } : {}) },
    ],
    // Days are UTC days, as the ledger counts them, wherever the reader is.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
  };
}

function dayData(days) {
  const xs = days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
  return [xs, days.map((d) => d.tokens), days.map((d) => d.cost)];
}

function modelData(models) {
  return [models.map((_, i) => i), models.map((m) => m.tokens), models.map((m) => m.cost)];
}

const charts = [];

function draw() {
  const block = document.getElementById("usage-data");
  if (!block) return;
  const data = JSON.parse(block.textContent);
  for (const chart of charts.splice(0)) chart.destroy();
  for (const holder of document.querySelectorAll("[data-usage-chart]")) {
    const width = Math.max(280, holder.clientWidth);
    if (holder.dataset.usageChart === "days") {
      charts.push(new uPlot(options(width, null, false), dayData(data.days), holder));
    } else if (data.models.length) {
      const names = data.models.map((m) => m.model);
      const labels = (u, ticks) => ticks.map((t) => names[t] ?? "");
      charts.push(new uPlot(options(width, labels, true), modelData(data.models), holder));
    }
  }
}

sizeBars();
draw();
// Colours follow the theme, and the width follows the window.
redrawOnThemeAndResize(draw);
