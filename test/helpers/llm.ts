/** LLM API payloads and their parsing: request bodies in both dialects, SSE events. */

export function chat(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, messages: [{ role: 'user', content: 'Say hello' }], ...extra };
}

export function messages(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }], ...extra };
}

/** Splits an SSE body into events `{event, data}`. */
export function sseEvents(text: string): { event: string; data: string }[] {
  return text.split(/\n\n/).filter((b) => b.trim().length > 0).map((block) => {
    let event = '';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    return { event, data: data.join('\n') };
  });
}
