/** The gateway benches' non-streamed chat completion (~400 bytes), as the upstreams answer it. */
export const COMPLETION_JSON = JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000, model: 'gpt-4o-mini',
  choices: [{
    index: 0, message: { role: 'assistant', content: 'Hello! This is a short benchmark answer from the upstream.' },
    logprobs: null, finish_reason: 'stop',
  }],
  usage: { prompt_tokens: 42, completion_tokens: 12, total_tokens: 54 },
});
