/**
 * The /metrics lines of remote MCP servers (Prometheus text format): token acquisitions, refreshes,
 * failures by reason, cache hits and the upstream's answer latency, by service.
 */
import type { Upstreams } from './upstreams.ts';

const label = (value: string): string => value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));

export function upstreamMetrics(upstreams: Upstreams): string[] {
  const lines = [
    '# HELP upstream_token_acquisitions_total Upstream tokens obtained (authorization code or client credentials).',
    '# TYPE upstream_token_acquisitions_total counter',
    '# HELP upstream_token_refreshes_total Upstream tokens refreshed.',
    '# TYPE upstream_token_refreshes_total counter',
    '# HELP upstream_token_cache_hits_total Requests served an upstream token from memory.',
    '# TYPE upstream_token_cache_hits_total counter',
    '# HELP upstream_failures_total Failures towards remote MCP servers and their authorization servers, by reason.',
    '# TYPE upstream_failures_total counter',
    '# HELP upstream_latency_seconds Time until a remote MCP server began its answer.',
    '# TYPE upstream_latency_seconds summary',
  ];
  for (const service of upstreams.all) {
    const s = service.stats;
    const l = `service="${label(service.name)}"`;
    lines.push(
      `upstream_token_acquisitions_total{${l}} ${s.acquisitions}`,
      `upstream_token_refreshes_total{${l}} ${s.refreshes}`,
      `upstream_token_cache_hits_total{${l}} ${s.cacheHits}`,
      ...Object.entries(s.failures).map(
        ([reason, n]) => `upstream_failures_total{${l},reason="${label(reason)}"} ${n}`,
      ),
      `upstream_latency_seconds_sum{${l}} ${(s.latencyMsSum / 1000).toFixed(6)}`,
      `upstream_latency_seconds_count{${l}} ${s.latencyCount}`,
    );
  }
  return lines;
}
