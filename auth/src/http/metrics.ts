/**
 * GET /metrics in the Prometheus text format (exposition format 0.0.4). Internal only: the edge
 * and Traefik never route it from outside. Counters are plain numbers: no label is ever a
 * token, a user or a client id (bounded cardinality, nothing personal).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class Counters {
  private readonly values = new Map<string, number>();
  private readonly help = new Map<string, string>();
  private readonly collectors: (() => string[])[] = [];

  /** Adds lines rendered by their owner (hot-path counters keep plain numbers of their own). */
  collect(lines: () => string[]): void {
    this.collectors.push(lines);
  }

  describe(name: string, help: string): void {
    this.help.set(name, help);
  }

  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    const key = `${name}${formatLabels(labels)}`;
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(name: string, labels: Record<string, string> = {}): number {
    return this.values.get(`${name}${formatLabels(labels)}`) ?? 0;
  }

  render(gauges: Record<string, number> = {}): string {
    const lines: string[] = [];
    for (const [name, help] of this.help) {
      const isGauge = name in gauges;
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${isGauge ? 'gauge' : 'counter'}`);
      if (isGauge) lines.push(`${name} ${gauges[name]}`);
      for (const [key, value] of this.values)
        if (key === name || key.startsWith(`${name}{`)) lines.push(`${key} ${value}`);
    }
    for (const collector of this.collectors) lines.push(...collector());
    return `${lines.join('\n')}\n`;
  }
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (!entries.length) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')}}`;
}

export function metricsHandler(counters: Counters, gauges: () => Record<string, number>) {
  return function metrics(_req: IncomingMessage, res: ServerResponse): void {
    const body = counters.render(gauges());
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

export const isMetricsPath = (url: string | undefined): boolean =>
  url !== undefined && url.startsWith('/metrics') && (url.length === 8 || url[8] === '?');
