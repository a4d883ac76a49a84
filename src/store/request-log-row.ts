/** One finished gateway request, as written to `request_log`. Times in ms; tokens null when the upstream said none. */
export interface RequestLogRow {
  ts: number;
  service: string;
  user: string | null;
  channel: string | null;
  endpoint: string;
  model: string | null;
  stream: boolean;
  status: number;
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  latencyMs: number;
  ttfbMs: number | null;
  attempts: number;
  error: string | null;
}
