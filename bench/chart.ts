/** A small hand-written SVG line chart: median freeze latency against tree size, log-log. */
export interface ChartPoint {
  processes: number;
  threads: number;
  medians: Record<string, number>;
}

const COLORS: Record<string, string> = {
  treefreeze: '#1f77b4',
  'cgroup v2': '#2ca02c',
  seed: '#ff7f0e',
  reference: '#d62728',
  floor: '#9467bd',
};

export function renderChart(points: ChartPoint[]): string {
  const width = 640;
  const height = 400;
  const margin = { left: 70, right: 150, top: 30, bottom: 60 };
  const xs = points.map((p) => p.processes);
  const values = points.flatMap((p) => Object.values(p.medians)).filter((v) => v > 0);
  const [xMin, xMax] = [Math.min(...xs) / 1.5, Math.max(...xs) * 1.5];
  const [yMin, yMax] = [Math.min(...values) / 2, Math.max(...values) * 2];
  const x = (v: number) =>
    margin.left +
    ((Math.log10(v) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) *
      (width - margin.left - margin.right);
  const y = (v: number) =>
    height -
    margin.bottom -
    ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) *
      (height - margin.top - margin.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2 - 60}" y="18" font-size="14">Median freeze latency</text>`,
  ];
  for (let decade = Math.ceil(Math.log10(yMin)); decade <= Math.floor(Math.log10(yMax)); decade++) {
    const v = 10 ** decade;
    parts.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${margin.left - 8}" y="${y(v) + 4}" text-anchor="end">${v >= 1 ? v : v.toFixed(-decade)} ms</text>`,
    );
  }
  for (const p of points) {
    parts.push(
      `<text x="${x(p.processes)}" y="${height - margin.bottom + 18}" text-anchor="middle">${p.processes}x${p.threads}</text>`,
    );
  }
  parts.push(
    `<text x="${(margin.left + width - margin.right) / 2}" y="${height - 15}" text-anchor="middle">processes x threads (log scale)</text>`,
  );
  const names = [...new Set(points.flatMap((p) => Object.keys(p.medians)))];
  names.forEach((name, index) => {
    const color = COLORS[name] ?? '#555';
    const coords = points
      .filter((p) => p.medians[name] !== undefined)
      .map((p) => `${x(p.processes)},${y(p.medians[name] as number)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${coords.join(' ')}"/>`);
    for (const c of coords) {
      const [cx, cy] = c.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`);
    }
    const ly = margin.top + 20 + index * 20;
    parts.push(
      `<line x1="${width - margin.right + 15}" x2="${width - margin.right + 35}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${width - margin.right + 40}" y="${ly + 4}">${name}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
